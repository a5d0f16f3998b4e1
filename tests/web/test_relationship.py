"""The relationship layer in a real browser (headless Chromium) against a live server: the
profile page, times on the person's clock, messages arriving live from /api/events (in the
open chat, as an unread badge, marked when the character wrote first), and plans beside
the facts. The model is tiny, so these assert structure, never wording."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.web.conftest import LAPTOP, PHONE, WebServer, api, log_in

# Every test here also fails on an uncaught error in the page's scripts.
pytestmark = pytest.mark.usefixtures("no_page_errors")

EMPTY_PROFILE = {"display_name": "", "pronouns": "", "persona": "", "timezone": "",
                 "language": "", "reach_out": True}


@pytest.fixture()
def profile_reset(web_server: WebServer) -> Iterator[None]:
    """The owner's profile is back to empty afterwards (the server is shared by the module)."""
    yield
    with api(web_server) as client:
        client.patch("/api/me", json=EMPTY_PROFILE).raise_for_status()


def new_conversation(web_server: WebServer, name: str = "Ember") -> dict[str, Any]:
    with api(web_server) as client:
        character = next(c for c in client.get("/api/characters").json() if c["name"] == name)
        started = client.post("/api/conversations", json={"character_id": character["id"]})
        started.raise_for_status()
        return started.json()  # type: ignore[no-any-return]


def open_live_chat(page: Any, web_server: WebServer, conversation_id: int) -> None:
    page.goto(f"{web_server.url}/#/chat/{conversation_id}")
    page.wait_for_selector("#messages .message[data-id]")
    page.wait_for_selector("body[data-live='open']")


def ids_shown(page: Any) -> list[int]:
    return [int(i) for i in page.eval_on_selector_all(
        "#messages .message", "els => els.map(e => e.dataset.id).filter(Boolean)")]


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_profile_saves_and_a_bad_time_zone_is_refused_by_its_field(
        logged_in_page: Any, web_server: WebServer, viewport: dict[str, int],
        profile_reset: None) -> None:
    page = logged_in_page
    page.click("#profile-link")
    page.wait_for_url(re.compile(r"#/profile$"))
    page.wait_for_selector("#profile-form", state="visible")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.input_value("#p-timezone")  # never empty: the kept zone, or this device's
    page.click("#use-device-zone")
    assert page.input_value("#p-timezone") == page.evaluate(
        "Intl.DateTimeFormat().resolvedOptions().timeZone")

    page.fill("#p-display_name", "Olive Tree")
    page.fill("#p-pronouns", "she/her")
    page.fill("#p-persona", "A gardener in Busan who reads late at night.")
    page.fill("#p-timezone", "Asia/Seoul")
    page.fill("#p-language", "pt-BR")  # a language the page has no strings for: English stays
    page.uncheck("#p-reach_out")
    page.click("#save-profile")
    page.locator("#status", has_text="Saved").wait_for()
    assert page.locator("#me").inner_text() == "Olive Tree"
    with api(web_server) as client:
        me = client.get("/api/me").json()
    assert {k: me[k] for k in EMPTY_PROFILE} == {
        "display_name": "Olive Tree", "pronouns": "she/her",
        "persona": "A gardener in Busan who reads late at night.", "timezone": "Asia/Seoul",
        "language": "pt-BR", "reach_out": False}

    # A zone that does not exist: its message by the field, focus there, nothing saved
    # (not even the persona changed in the same form).
    page.fill("#p-persona", "Changed, but refused with the zone.")
    page.fill("#p-timezone", "Mars/Olympus_Mons")
    page.click("#save-profile")
    error = page.locator("#p-timezone-error")
    error.filter(has_text=re.compile(r"\w")).wait_for()
    assert error.inner_text().startswith("timezone")
    assert page.get_attribute("#p-timezone", "aria-invalid") == "true"
    for other in ("display_name", "pronouns", "persona", "language", "reach_out"):
        assert page.locator(f"#p-{other}-error").inner_text() == ""
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    with api(web_server) as client:
        assert client.get("/api/me").json() == me

    # With the keyboard alone: the focus is on the refused field; mend it, Enter saves.
    page.wait_for_selector("#p-timezone:focus")
    page.keyboard.press("Control+A")
    page.keyboard.type("Europe/Lisbon")
    assert page.locator("#p-timezone-error").inner_text() == ""  # cleared while typing
    page.keyboard.press("Enter")
    page.locator("#status", has_text="Saved").wait_for()
    with api(web_server) as client:
        me = client.get("/api/me").json()
    assert me["timezone"] == "Europe/Lisbon"
    assert me["persona"] == "Changed, but refused with the zone."


def test_chat_times_are_on_the_profile_clock(browser: Any, web_server: WebServer,
                                            csp_refusals: list[str],
                                            profile_reset: None) -> None:
    # The browser lives in Los Angeles; the person's profile says Seoul: Seoul wins.
    with api(web_server) as client:
        client.patch("/api/me", json={"timezone": "Asia/Seoul"}).raise_for_status()
    conversation = new_conversation(web_server)
    context = browser.new_context(viewport=LAPTOP, timezone_id="America/Los_Angeles",
                                  locale="en-GB")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.on("console", lambda m: csp_refusals.append(m.text)
                if "Content Security Policy" in m.text else None)
        log_in(page, web_server)
        page.goto(f"{web_server.url}/#/chat/{conversation['id']}")
        stamp = page.locator("#messages .message time").first
        stamp.wait_for()
        when = datetime.fromisoformat(stamp.get_attribute("datetime").replace("Z", "+00:00"))
        seoul = when.astimezone(ZoneInfo("Asia/Seoul")).strftime("%H:%M")
        los_angeles = when.astimezone(ZoneInfo("America/Los_Angeles")).strftime("%H:%M")
        assert seoul in stamp.inner_text()
        assert los_angeles not in stamp.inner_text()
        assert "GMT+9" in stamp.get_attribute("title")  # the full date names the offset
    finally:
        context.close()


def test_a_message_stored_elsewhere_appears_live_and_once(logged_in_page: Any,
                                                          web_server: WebServer) -> None:
    page = logged_in_page
    conversation = new_conversation(web_server)
    open_live_chat(page, web_server, conversation["id"])

    # Another device of the same person sends a message: it and the reply show up here.
    with api(web_server) as client:
        reply = client.post(f"/api/conversations/{conversation['id']}/messages",
                            json={"content": "Sent from my phone.", "stream": False})
        reply.raise_for_status()
        stored = client.get(f"/api/conversations/{conversation['id']}/messages").json()
    page.wait_for_selector(f"#messages .message[data-id='{reply.json()['id']}']")
    page.locator("#messages .message[data-role='user'] .content",
                 has_text="Sent from my phone.").wait_for()
    assert ids_shown(page) == [m["id"] for m in stored]

    # A message sent from this page comes back on the stream too: still drawn once.
    page.fill("#composer-input", "And this one from the laptop.")
    page.click("#send")
    page.wait_for_selector("#messages [data-streaming]", state="detached", timeout=120_000)
    with api(web_server) as client:
        stored = client.get(f"/api/conversations/{conversation['id']}/messages").json()
    assert len(stored) == 5
    page.wait_for_selector(f"#messages .message[data-id='{stored[-1]['id']}']")
    page.wait_for_timeout(1000)  # let any late copy from the stream arrive: none may show
    assert ids_shown(page) == [m["id"] for m in stored]


def test_a_reply_in_another_conversation_raises_an_unread_badge(logged_in_page: Any,
                                                                web_server: WebServer) -> None:
    page = logged_in_page
    page.wait_for_selector("body[data-live='open']")
    conversation = new_conversation(web_server)  # its greeting arrives while the list shows
    badge = page.locator(f"#conversations .conversation[data-id='{conversation['id']}'] .unread")
    badge.wait_for()
    with api(web_server) as client:
        client.post(f"/api/conversations/{conversation['id']}/messages",
                    json={"content": "Are you there?", "stream": False}).raise_for_status()
    page.locator(f"#conversations .conversation[data-id='{conversation['id']}'] .unread",
                 has_text="2").wait_for()
    page.click(f"#conversations .conversation[data-id='{conversation['id']}'] a")
    page.wait_for_selector("#messages .message[data-id]")
    page.goto(f"{web_server.url}/#/")
    page.wait_for_selector(f"#conversations .conversation[data-id='{conversation['id']}']")
    assert badge.count() == 0


def test_a_message_the_character_started_is_marked(logged_in_page: Any,
                                                   web_server: WebServer) -> None:
    page = logged_in_page
    conversation = new_conversation(web_server)
    open_live_chat(page, web_server, conversation["id"])
    services = web_server.services
    owner = services.store.people.get_by_name(web_server.owner_name)
    # As the scheduler does: a stored assistant turn with its reason, told to the feed.
    message = services.store.messages.add(
        conversation_id=conversation["id"], role="assistant", content="How did the interview go?",
        reason={"kind": "follow_up", "about": [], "due": time.time() - 3600})
    feed = getattr(services, "feed", None)
    if feed is not None:
        feed.publish(owner.id, message)
    item = page.locator(f"#messages .message[data-id='{message.id}']")
    item.wait_for()
    assert item.get_attribute("data-initiated-by") == "character"
    marker = item.locator(".badge.first")
    assert marker.inner_text() == "wrote first"
    assert "following up" in marker.get_attribute("title")


def test_plans_show_beside_the_facts_and_are_edited_cancelled_and_deleted(
        logged_in_page: Any, web_server: WebServer, profile_reset: None) -> None:
    page = logged_in_page
    with api(web_server) as client:
        client.patch("/api/me", json={"timezone": "Asia/Seoul"}).raise_for_status()
        if client.get("/api/plans").status_code == 404:
            pytest.skip("this server has no /api/plans yet")
    conversation = new_conversation(web_server)
    services = web_server.services
    owner = services.store.people.get_by_name(web_server.owner_name)
    soon = time.time() + 2 * 86400

    def plan(text: str) -> int:
        return services.store.plans.add(
            user_id=owner.id, character_id=conversation["character_id"],
            conversation_id=conversation["id"], text=text, kind="plan", due_at=soon,
            all_day=False, source_message_ids=[]).id

    interview, trip, dentist = plan("Job interview"), plan("Trip to Busan"), plan("Dentist")
    open_live_chat(page, web_server, conversation["id"])
    page.reload()  # the page keeps the zone it signed in with: take the new one
    page.wait_for_selector("body[data-live='open']")
    upcoming = page.locator("#plans-upcoming")
    upcoming.locator(f".plan[data-id='{interview}']").wait_for()
    assert upcoming.locator(".plan").count() == 3
    assert "Days talked" in page.locator("#together").inner_text()
    assert page.locator("#milestones li").count() >= 1  # a milestone, or "None yet."

    # Cancel one: it shows as cancelled (in whichever list its date puts it).
    upcoming.locator(f".plan[data-id='{trip}'] .plan-cancel").click()
    page.locator(f"#relationship .plan[data-id='{trip}'][data-status='cancelled']").wait_for(
        state="attached")

    # Edit one: its text and time, the time typed on the person's (Seoul) clock.
    day = (datetime.now(ZoneInfo("Asia/Seoul")) + timedelta(days=3)).date()
    item = upcoming.locator(f".plan[data-id='{interview}']")
    item.locator(".plan-edit").click()
    item.locator(".plan-input").fill("Job interview at the port authority")
    item.locator(".plan-when").fill(f"{day.isoformat()}T15:30")
    item.locator(".plan-save").click()
    upcoming.locator(".plan-text", has_text="port authority").wait_for()

    # Delete one (the button asks again first).
    delete = upcoming.locator(f".plan[data-id='{dentist}'] .plan-delete")
    delete.click()
    delete.click()
    upcoming.locator(f".plan[data-id='{dentist}']").wait_for(state="detached")

    with api(web_server) as client:
        plans = {p["id"]: p for p in client.get("/api/plans").json()}
    assert dentist not in plans
    assert plans[trip]["status"] == "cancelled"
    edited = plans[interview]
    assert edited["text"] == "Job interview at the port authority"
    due = datetime.fromisoformat(edited["due_at"].replace("Z", "+00:00"))
    expected = datetime(day.year, day.month, day.day, 15, 30, tzinfo=ZoneInfo("Asia/Seoul"))
    assert due == expected.astimezone(UTC)
