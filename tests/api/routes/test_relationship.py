"""Plans and the relationship over HTTP: found in what the person says, shown, corrected."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest



@pytest.fixture()
def seoul(client: httpx.Client) -> Iterator[httpx.Client]:
    """The shared server's person, living in Seoul for one test."""
    before = client.get("/api/me").json()["timezone"]
    assert client.patch("/api/me", json={"timezone": "Asia/Seoul"}).status_code == 200
    yield client
    client.patch("/api/me", json={"timezone": before})


def _conversation(client: httpx.Client, messages: list[tuple[str, str]],
                  character_id: int = 1) -> tuple[int, list[int]]:
    conversation = client.post("/api/conversations",
                               json={"character_id": character_id}).json()["id"]
    r = client.post(f"/api/conversations/{conversation}/import", json={"messages": [
        {"role": role, "content": f"message {n}", "created_at": at}
        for n, (role, at) in enumerate(messages)]})
    assert r.status_code == 201, r.text
    return conversation, r.json()["message_ids"]


def test_days_talked_and_milestones_are_local_days(seoul: httpx.Client) -> None:
    # A character of its own: the shared server's person talks with the others elsewhere.
    made = seoul.post("/api/characters", json={"name": "Haneul", "first_mes": "Hi."})
    assert made.status_code == 201, made.text
    try:
        conversation, _ = _conversation(seoul, [
            ("user", "2026-05-01T14:30:00Z"),  # 23:30 on 1 May in Seoul
            ("assistant", "2026-05-01T14:30:05Z"),
            ("user", "2026-05-01T16:00:00Z"),  # 01:00 on 2 May in Seoul: another day there
        ], character_id=made.json()["id"])
        shared = seoul.get(f"/api/conversations/{conversation}/relationship").json()
        assert shared["known_since"].startswith("2026-05-01T14:30:00")
        assert shared["last_talk"].startswith("2026-05-01T16:00:00")
        assert shared["days_talked"] == 2
        marks = [(m["kind"], m["date"], m["label"]) for m in shared["milestones"]]
        assert marks[:2] == [("first_conversation", "2026-05-01", "first conversation"),
                             ("anniversary", "2026-08-09", "100 days")]
    finally:
        seoul.delete(f"/api/characters/{made.json()['id']}")


def test_a_plan_said_in_a_turn_is_listed_and_can_be_corrected(seoul: httpx.Client) -> None:
    conversation = seoul.post("/api/conversations", json={"character_id": 1}).json()["id"]
    r = seoul.post(f"/api/conversations/{conversation}/messages",
                   json={"content": "My job interview is tomorrow at 10, wish me luck!",
                         "stream": False})
    assert r.status_code == 200, r.text
    [plan] = seoul.get("/api/plans", params={"conversation_id": conversation}).json()
    assert "interview" in plan["text"] and plan["status"] == "upcoming"
    assert plan["all_day"] is False and plan["due_at"].endswith("01:00:00Z")  # 10:00 in Seoul
    shared = seoul.get(f"/api/conversations/{conversation}/relationship").json()
    assert [p["id"] for p in shared["upcoming"]] == [plan["id"]]

    moved = seoul.patch(f"/api/plans/{plan['id']}",
                        json={"due_at": "2027-01-08T14:00:00+09:00", "text": "second interview"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["due_at"].startswith("2027-01-08T05:00:00")
    assert moved.json()["text"] == "second interview"
    for body, field in [({"status": "maybe"}, "status"), ({"due_at": "2027-01-08T14:00:00"},
                                                          "due_at"), ({"text": "  "}, "text")]:
        bad = seoul.patch(f"/api/plans/{plan['id']}", json=body)
        assert bad.status_code == 422 and field in bad.json()["error"]["message"], bad.text
    listed = seoul.get("/api/plans", params={"conversation_id": conversation}).json()
    assert [p["text"] for p in listed] == ["second interview"]  # the bad edits changed nothing
    cancelled = seoul.patch(f"/api/plans/{plan['id']}", json={"status": "cancelled"}).json()
    assert cancelled["status"] == "cancelled"
    assert seoul.delete(f"/api/plans/{plan['id']}").status_code == 204
    gone = seoul.delete(f"/api/plans/{plan['id']}")
    assert gone.status_code == 404 and "/api/plans" in gone.json()["error"]["message"]


def test_birthdays_from_facts_are_milestones(seoul: httpx.Client) -> None:
    conversation, _ = _conversation(seoul, [("user", "2026-05-01T14:30:00Z")])
    fact = seoul.post("/api/facts", json={"character_id": 1,
                                          "text": "Their birthday is on 3 May."})
    assert fact.status_code == 201, fact.text
    try:
        shared = seoul.get(f"/api/conversations/{conversation}/relationship").json()
        birthdays = [m for m in shared["milestones"] if m["kind"] == "birthday"]
        assert [m["date"][5:] for m in birthdays] == ["05-03"]
        assert birthdays[0]["date"] >= date.today().isoformat()  # the next one to come
    finally:
        seoul.delete(f"/api/facts/{fact.json()['id']}")
