"""Memory over the live HTTP API: the context window, bulk import, facts, the summary."""

from __future__ import annotations

import unicodedata

import httpx
import pytest

from tests.api.routes.test_bad_input import assert_error, snapshot
from tests.api.routes.test_conversations import new_conversation


def import_history(client: httpx.Client, cid: int, messages: list[dict]) -> httpx.Response:
    return client.post(f"/api/conversations/{cid}/import", json={"messages": messages})


def test_import_then_context_shows_blocks_and_sources(client: httpx.Client) -> None:
    cid = new_conversation(client)["id"]
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant",
         "content": f"Small talk number {i} about the weather and the garden.",
         "created_at": f"2024-03-{1 + i // 10:02d}T10:{i % 60:02d}:00Z"}
        for i in range(120)
    ]
    messages[6]["content"] = "My brother Pedro repairs old accordions in Porto."
    r = import_history(client, cid, messages)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["imported"] == 120 and len(body["message_ids"]) == 120
    stored = client.get(f"/api/conversations/{cid}/messages").json()
    assert stored[7]["content"] == messages[6]["content"]  # after the greeting
    assert stored[7]["created_at"].startswith("2024-03-01T10:06")

    before = snapshot(client)
    r = client.post(f"/api/conversations/{cid}/context",
                    json={"content": "What does my brother Pedro repair?"})
    assert r.status_code == 200, r.text
    window = r.json()
    assert snapshot(client) == before, "building a window stores nothing"
    names = [b["name"] for b in window["blocks"]]
    assert names == ["system", "profile", "summary", "recent_turns", "memories", "lorebook",
                     "new_message"]
    assert window["prompt_tokens"] + window["reply_reserve"] <= window["n_ctx"]
    assert sum(b["tokens"] for b in window["blocks"]) <= window["prompt_tokens"]
    pedro = body["message_ids"][6]
    assert any(pedro in m["source_message_ids"] for m in window["memories"])
    assert "accordions" in window["messages"][-1]["content"]
    assert window["messages"][-1]["content"].endswith("What does my brother Pedro repair?")


@pytest.mark.parametrize("item, where", [
    ({"role": "narrator", "content": "x", "created_at": "2024-01-01T00:00:00Z"}, "role"),
    ({"role": "user", "content": "x", "created_at": "yesterday-ish"}, "created_at"),
    ({"role": "user", "created_at": "2024-01-01T00:00:00Z"}, "content"),
    ({"role": "user", "content": "   ", "created_at": "2024-01-01T00:00:00Z"}, "messages[1]"),
])
def test_bad_import_names_the_item_and_stores_nothing(client: httpx.Client, item: dict,
                                                      where: str) -> None:
    cid = new_conversation(client)["id"]
    good = {"role": "user", "content": "fine", "created_at": "2024-01-01T00:00:00Z"}
    before = snapshot(client)
    r = import_history(client, cid, [good, item])
    assert_error(r, 422, where)
    assert "1" in r.json()["error"]["message"]  # the index of the bad item
    assert snapshot(client) == before


def test_bad_context_and_import_requests(client: httpx.Client) -> None:
    cid = new_conversation(client)["id"]
    before = snapshot(client)
    assert_error(client.post(f"/api/conversations/{cid}/context", json={"content": " "}), 422,
                 "empty")
    assert_error(client.post(f"/api/conversations/{cid}/context", json={}), 422, "content")
    assert_error(client.post("/api/conversations/999999/context", json={"content": "hi"}), 404)
    assert_error(import_history(client, 999999, [
        {"role": "user", "content": "x", "created_at": "2024-01-01T00:00:00Z"}]), 404)
    assert_error(import_history(client, cid, []), 422, "messages")
    assert_error(client.get("/api/conversations/999999/summary"), 404)
    assert snapshot(client) == before


def test_facts_can_be_listed_added_edited_and_deleted(client: httpx.Client) -> None:
    character_id = client.get("/api/characters").json()[0]["id"]
    r = client.post("/api/facts", json={"character_id": character_id,
                                        "text": "User is allergic to peanuts."})
    assert r.status_code == 201, r.text
    fact = r.json()
    assert_error(client.post("/api/facts", json={"character_id": character_id,
                                                 "text": "user is allergic to peanuts"}), 409)
    r = client.patch(f"/api/facts/{fact['id']}", json={"text": "User is allergic to walnuts."})
    assert r.json()["text"] == "User is allergic to walnuts."
    listed = client.get("/api/facts", params={"character_id": character_id}).json()
    assert [f["text"] for f in listed if f["id"] == fact["id"]] == ["User is allergic to walnuts."]
    # A fact is part of the profile of the next fresh window.
    cid = new_conversation(client, character_id)["id"]
    window = client.post(f"/api/conversations/{cid}/context", json={"content": "Hi!"}).json()
    assert "allergic to walnuts" in window["messages"][0]["content"]
    assert client.delete(f"/api/facts/{fact['id']}").status_code == 204
    assert_error(client.delete(f"/api/facts/{fact['id']}"), 404)
    assert_error(client.patch("/api/facts/999999", json={"text": "x"}), 404)
    assert_error(client.post("/api/facts", json={"character_id": 999999, "text": "x"}), 404)


def test_summary_is_readable(client: httpx.Client) -> None:
    cid = new_conversation(client)["id"]
    r = client.get(f"/api/conversations/{cid}/summary")
    assert r.status_code == 200
    assert r.json() == {"conversation_id": cid, "text": "", "upto_message_id": None,
                        "updated_at": None}


def test_two_korean_facts_are_both_kept(client: httpx.Client) -> None:
    character_id = client.get("/api/characters").json()[0]["id"]
    first = client.post("/api/facts", json={"character_id": character_id,
                                            "text": "고양이 이름은 나비예요."})
    assert first.status_code == 201, first.text
    second = client.post("/api/facts", json={"character_id": character_id,
                                             "text": "부산에서 일하는 간호사예요."})
    assert second.status_code == 201, second.text
    # The same words in another Unicode form (NFD Hangul) are the same fact.
    nfd = unicodedata.normalize("NFD", "고양이 이름은 나비예요!")
    again = client.post("/api/facts", json={"character_id": character_id, "text": nfd})
    assert_error(again, 409, "already known")
    listed = [f["text"] for f in client.get("/api/facts",
                                            params={"character_id": character_id}).json()]
    assert "고양이 이름은 나비예요." in listed and "부산에서 일하는 간호사예요." in listed
    for fact in (first.json(), second.json()):
        assert client.delete(f"/api/facts/{fact['id']}").status_code == 204
