"""The profile page (#/me) in a real browser: a refused field is named and nothing changes;
a saved name shows in the header; times are shown in the person's zone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import WebServer


@pytest.fixture()
def restored(web_server: WebServer) -> Iterator[httpx.Client]:
    """The owner's profile as it was, after the test (the server is shared)."""
    client = httpx.Client(base_url=web_server.url, timeout=60,
                          headers={"Authorization": f"Bearer {web_server.token}"})
    before = client.get("/api/me").json()
    yield client
    client.patch("/api/me", json={k: before[k] for k in (
        "display_name", "pronouns", "persona", "timezone", "language", "reach_out")})
    client.close()


def test_the_profile_page_saves_and_names_a_refused_field(
        logged_in_page: Any, web_server: WebServer, restored: httpx.Client) -> None:
    page = logged_in_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.click("#me")
    page.wait_for_selector("#profile-view", state="visible")
    page.fill("#p-display_name", "Caroline")
    page.fill("#p-timezone", "Mars/Base")
    page.click("#profile-form button[type=submit]")
    page.wait_for_selector("#profile-error:has-text('timezone:')")
    assert page.locator("#profile-error").inner_text().startswith("timezone: ")
    assert restored.get("/api/me").json()["display_name"] != "Caroline"  # nothing changed

    page.fill("#p-timezone", "Asia/Seoul")
    page.click("#profile-form button[type=submit]")
    page.wait_for_selector("#me:text-is('Caroline')")
    me = restored.get("/api/me").json()
    assert (me["display_name"], me["timezone"]) == ("Caroline", "Asia/Seoul")
    # Stamps now read in Seoul's time, whatever the browser's zone.
    shown = page.evaluate("""async () => {
        const { stamp } = await import('/web/dom.js');
        return stamp('2026-12-03T17:04:00Z').title;
    }""")
    assert "02:04" in shown or "2:04" in shown
    assert not errors
