"""`GET /api/events` on a live server: every device of a person gets their messages as
they are stored, nobody else's; the stream outlives the server's time limits, resumes
after a reconnect, and ends when the client leaves or the server stops."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hearth.api import app as api_app
from hearth.api.routes import events as events_route
from hearth.services import Services
from tests.utils.live import ProcessServer, ThreadServer

LIMITS = {"timeout_body": 1, "timeout_keep_alive": 1, "timeout_headers": 1}


def wait_until(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)
    return result


@dataclass
class Listener:
    """An event-stream client reading in a thread: messages (with their `id:`) and comments."""

    url: str
    token: str
    last_event_id: int | None = None
    messages: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    status: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_until(lambda: self.retry is not None or self.ended.is_set(), "the stream opened")

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        try:
            with httpx.stream("GET", self.url + "/api/events", headers=headers,
                              timeout=httpx.Timeout(60, read=None)) as response:
                self.status = response.status_code
                assert response.headers["content-type"].startswith("text/event-stream")
                assert response.headers["cache-control"] == "no-cache"
                assert response.headers["x-accel-buffering"] == "no"
                event_id, kind, data = None, None, []
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                    elif line.startswith("retry:"):
                        self.retry = int(line[6:])
                    elif line.startswith("id:"):
                        event_id = int(line[3:])
                    elif line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        assert kind == "message" and event_id is not None
                        self.messages.append((event_id, json.loads("\n".join(data))))
                        event_id, kind, data = None, None, []
        finally:
            self.ended.set()

    def ids(self) -> list[int]:
        return [m["id"] for _, m in self.messages]

    def join(self, timeout: float = 60) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the event stream did not end"


@dataclass
class Household:
    url: str
    services: Services
    ana: str  # the owner's token
    ben: str  # a member's
    ana_id: int
    server: ThreadServer


@pytest.fixture()
def household(start_services: Any) -> Iterator[Household]:
    services = start_services()
    ana, ana_token = services.accounts.init_owner("ana")
    _, ben_token = services.accounts.add_member("ben")
    # Small time limits: the stream must outlive them all.
    server_settings = services.settings.server.model_copy(update=LIMITS)
    settings = services.settings.model_copy(update={"server": server_settings})
    server = ThreadServer(api_app.create_app(settings, services), server_settings)
    with server:
        yield Household(server.url, services, ana_token, ben_token, ana.id, server)


def client(home: Household, token: str) -> httpx.Client:
    return httpx.Client(base_url=home.url, timeout=120,
                        headers={"Authorization": f"Bearer {token}"})


def test_every_device_of_the_person_gets_their_messages_and_nobody_else_does(
    household: Household, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_route, "PING_SECONDS", 0.5)
    home = household
    phone, laptop = Listener(home.url, home.ana), Listener(home.url, home.ana)
    other = Listener(home.url, home.ben)
    assert phone.retry == events_route.RETRY_MS and phone.status == 200
    wait_until(lambda: home.services.feed.listeners(home.ana_id) == 2, "both subscribed")

    with client(home, home.ana) as ana:
        character = ana.get("/api/characters").json()[0]["id"]
        conversation = ana.post("/api/conversations", json={"character_id": character}).json()
        url = f"/api/conversations/{conversation['id']}/messages"
        reply = ana.post(url, json={"content": "My exam is on Friday.", "stream": False})
        assert reply.status_code == 200, reply.text
        stored = ana.get(url).json()

    for device in (phone, laptop):
        wait_until(lambda d=device: len(d.messages) >= len(stored), "the turn arrived")  # type: ignore[misc]
        assert [m for _, m in device.messages] == stored  # greeting, turn, reply: as stored
        ids = [i for i, _ in device.messages]
        assert ids == sorted(ids) and ids[-1] == stored[-1]["id"]
        assert stored[-2]["content"] == "My exam is on Friday."

    # Quiet for longer than every time limit of the server: the streams stay open.
    wait_until(lambda: len(phone.comments) >= 4 and len(other.comments) >= 4, "pings")
    time.sleep(max(LIMITS.values()) * 2)
    assert "ping" in phone.comments and not phone.ended.is_set()

    # A message the character starts (stored and published beside any request).
    services = home.services
    ana_user = services.store.people.get(home.ana_id)
    said = services.chat._stored(ana_user.id, services.store.messages.add(
        conversation_id=conversation["id"], role="assistant", content="How did the exam go?"))
    for device in (phone, laptop):
        wait_until(lambda d=device: said.id in d.ids(), "the character's message arrived")  # type: ignore[misc]
        assert device.messages[-1][1]["content"] == "How did the exam go?"

    assert other.messages == [] and not other.ended.is_set()  # only pings for ben


def test_a_reconnect_gets_what_was_stored_meanwhile(household: Household) -> None:
    home = household
    with client(home, home.ana) as ana:
        character = ana.get("/api/characters").json()[0]["id"]
        conversation = ana.post("/api/conversations", json={"character_id": character}).json()
        url = f"/api/conversations/{conversation['id']}/messages"
        greeting = ana.get(url).json()[-1]["id"]
        # Away while a turn is stored (by another device, say).
        assert ana.post(url, json={"content": "Hi!", "stream": False}).status_code == 200
        stored = ana.get(url).json()
        with client(home, home.ben) as ben:  # ben's own messages are not ana's to resume
            other = ben.post("/api/conversations", json={"character_id": character}).json()
            assert other["id"] != conversation["id"]

    back = Listener(home.url, home.ana, last_event_id=greeting)
    wait_until(lambda: len(back.messages) >= 2, "the missed messages")
    assert [m for _, m in back.messages] == [m for m in stored if m["id"] > greeting]
    assert back.messages[-1][0] == stored[-1]["id"]  # the id to resume from next time

    # Then it goes on live, without repeating what it resumed.
    services = home.services
    said = services.chat._stored(home.ana_id, services.store.messages.add(
        conversation_id=conversation["id"], role="assistant", content="Still there?"))
    wait_until(lambda: said.id in back.ids(), "a live message after the resumed ones")
    assert back.ids() == [m["id"] for m in stored if m["id"] > greeting] + [said.id]

    with client(home, home.ana) as ana:  # a resume point that is no number: 422
        r = ana.get("/api/events", headers={"Last-Event-ID": "yesterday"})
        assert r.status_code == 422 and "last-event-id" in r.json()["error"]["message"]


def test_a_client_that_leaves_is_unsubscribed(household: Household) -> None:
    home = household
    feed = home.services.feed
    with client(home, home.ana) as ana, ana.stream("GET", "/api/events") as response:
        assert response.status_code == 200
        lines = response.iter_lines()  # kept: a dropped iterator closes the connection
        assert next(lines).startswith("retry:")  # it is subscribed
        assert feed.listeners(home.ana_id) == 1
    wait_until(lambda: feed.listeners(home.ana_id) == 0, "unsubscribed after the client left")


def test_the_server_stops_with_a_stream_open(household: Household) -> None:
    home = household
    listening = Listener(home.url, home.ana)
    home.server.__exit__(None, None, None)  # as the fixture will again, harmlessly
    listening.join()  # the stream ended, so the server could stop
    assert not home.server._thread.is_alive()


def test_hearth_serve_stops_on_ctrl_c_with_a_stream_open(tmp_path: Path) -> None:
    live = ProcessServer(tmp_path / "data", "--n-ctx", "2048", "--memory.enabled", "false")
    with live:
        assert live.proc is not None
        listening = Listener(live.url, "no token needed: single-user mode")
        assert listening.status == 200
        live.proc.send_signal(signal.SIGINT)
        live.proc.wait(timeout=60)  # without the stream's end, it would wait for ever
        listening.join()
        assert live.proc.returncode == 0


def test_the_schedule_writes_a_follow_up_that_every_device_receives(
    start_services: Any,
) -> None:
    """The whole path, live: a plan said in imported history falls due on the wall clock,
    `hearth serve`'s schedule writes the follow-up, and both of the person's open event
    streams receive it as stored."""
    services = start_services()
    owner, token = services.accounts.init_owner("ana")
    services.store.people.set_profile(owner.id, timezone="UTC")
    relationship = services.settings.relationship.model_copy(
        update={"enabled": True, "check_seconds": 1, "quiet_hours": ""})
    settings = services.settings.model_copy(update={"relationship": relationship})
    services.outreach.settings = relationship
    with ThreadServer(api_app.create_app(settings, services)) as server:
        phone, laptop = Listener(server.url, token), Listener(server.url, token)
        said = time.time() - 9000  # the exam began 2 h 20 min ago: time to ask
        with httpx.Client(base_url=server.url, timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as ana:
            conversation = ana.post("/api/conversations", json={"character_id": 1}).json()["id"]
            r = ana.post(f"/api/conversations/{conversation}/import", json={"messages": [
                {"role": "user", "content": "My chemistry exam starts in 10 minutes, wish me luck!",
                 "created_at": _iso(said)},
                {"role": "assistant", "content": "Good luck, you've got this!",
                 "created_at": _iso(said + 5)}]})
            assert r.status_code == 201, r.text
            exam_message = r.json()["message_ids"][0]
            [plan] = ana.get("/api/plans").json()
            assert plan["text"] == "chemistry exam" and plan["source_message_ids"] == [exam_message]
            for device in (phone, laptop):
                started = wait_until(lambda d=device: [m for _, m in d.messages  # type: ignore[misc]
                                                       if m["initiated_by"] == "character"],
                                     "the follow-up arrived", timeout=240)
                assert started[0]["reason"]["kind"] == "follow_up"
                assert started[0]["reason"]["about"] == [exam_message]
                assert started[0]["conversation_id"] == conversation and started[0]["content"]
            stored = ana.get(f"/api/conversations/{conversation}/messages").json()
            assert stored[-1] == started[0]  # stored as it was sent
            assert ana.get("/api/plans").json()[0]["followed_up"] is True
            time.sleep(3)  # several more checks: never a second one
            assert len(ana.get(f"/api/conversations/{conversation}/messages").json()) == len(stored)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
