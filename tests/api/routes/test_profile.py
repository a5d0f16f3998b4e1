"""GET and PATCH /api/me: the profile round trip, in single-user mode and in a household;
a bad field is 422 naming it and changes nothing; the owner sets a member's profile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hearth.api.app import create_app
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.services import Services
from hearth.zones import local_zone
from tests.conftest import make_settings
from tests.utils.live import ThreadServer

PROFILE = {"display_name": "Caroline", "pronouns": "she/her",
           "persona": "A night-shift nurse in Busan.", "timezone": "Asia/Seoul",
           "language": "ko", "reach_out": False}


@pytest.fixture()
def live(llama: LlamaModel, embedder: MiniLMEmbedder,
         tmp_path: Path) -> Iterator[tuple[str, Services]]:
    settings = make_settings(tmp_path / "data")
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    with ThreadServer(create_app(settings, services)) as server:
        yield server.url, services
    services.close()


def _refused(c: httpx.Client, path: str, body: dict, field: str) -> None:
    before = c.get("/api/me").json()
    r = c.patch(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"].startswith(f"{field}: "), r.text
    assert c.get("/api/me").json() == before  # nothing changed, not even the good fields


def test_the_profile_round_trip_in_single_user_mode(live: tuple[str, Services]) -> None:
    url, _ = live
    with httpx.Client(base_url=url, timeout=60) as c:
        me = c.get("/api/me").json()
        assert me["name"] == "User" and me["display_name"] == "" and me["reach_out"] is True
        assert me["timezone"] == local_zone().key and me["language"] == "en"  # in effect
        assert me["language_set"] is False  # so the web page follows the browser's language
        r = c.patch("/api/me", json=PROFILE)
        assert r.status_code == 200, r.text
        assert {k: r.json()[k] for k in PROFILE} == PROFILE
        assert r.json()["language_set"] is True
        assert c.get("/api/me").json() == r.json()
        _refused(c, "/api/me", {"display_name": "Mallory", "timezone": "Mars/Base"}, "timezone")
        _refused(c, "/api/me", {"pronouns": "they/them", "language": "elvish"}, "language")
        _refused(c, "/api/me", {"display_name": "x" * 101}, "display_name")
        assert c.patch("/api/me", json={"dispaly_name": "typo"}).status_code == 422
        # A subset changes only itself; '' goes back to the default in effect.
        r = c.patch("/api/me", json={"timezone": "", "language": ""}).json()
        assert r["timezone"] == local_zone().key and r["language"] == "en"
        assert r["language_set"] is False
        assert r["display_name"] == "Caroline" and r["persona"] == PROFILE["persona"]
        # The owner's view of the household (here the one local user) shows it too.
        assert c.get("/api/users").json()[0]["display_name"] == "Caroline"


def test_the_profile_in_a_household(live: tuple[str, Services]) -> None:
    url, services = live
    alice, alice_token = services.accounts.init_owner("Alice")
    bob, bob_token = services.accounts.add_member("Bob")

    def client(token: str) -> httpx.Client:
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                            timeout=60)

    with client(alice_token) as a, client(bob_token) as b:
        r = b.patch("/api/me", json={"display_name": "Bobby", "timezone": "Europe/Berlin"})
        assert r.status_code == 200, r.text
        assert b.get("/api/me").json()["display_name"] == "Bobby"
        assert a.get("/api/me").json()["display_name"] == ""  # only Bob's changed
        # The owner sets a member's profile; a member may not set another's.
        r = a.patch(f"/api/users/{bob.id}", json={"pronouns": "he/him", "language": "de"})
        assert r.status_code == 200, r.text
        assert b.get("/api/me").json()["pronouns"] == "he/him"
        assert b.patch(f"/api/users/{alice.id}", json={"display_name": "x"}).status_code == 403
        r = a.patch(f"/api/users/{bob.id}", json={"display_name": "Robert", "timezone": "Nowhere"})
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("timezone: ")
        assert b.get("/api/me").json()["display_name"] == "Bobby"
        assert a.patch("/api/users/9999", json={"pronouns": "x"}).status_code == 404
        listed = {u["name"]: u for u in a.get("/api/users").json()}
        assert listed["Bob"]["timezone"] == "Europe/Berlin" and listed["Bob"]["language"] == "de"
