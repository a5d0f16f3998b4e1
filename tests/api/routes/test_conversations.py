"""Conversations over the live HTTP API, on the real model."""

from __future__ import annotations

import time

import httpx

from tests.utils.live import sse_events


def new_conversation(client: httpx.Client, character_id: int | None = None) -> dict:
    if character_id is None:
        character_id = client.get("/api/characters").json()[0]["id"]
    r = client.post("/api/conversations", json={"character_id": character_id})
    assert r.status_code == 201, r.text
    return r.json()


def test_fresh_install_has_a_default_character_and_greets(client: httpx.Client) -> None:
    characters = client.get("/api/characters").json()
    assert any(c["name"] == "Ember" for c in characters)
    conversation = new_conversation(client)
    (greeting,) = conversation["messages"]
    assert greeting["role"] == "assistant"
    assert "{{user}}" not in greeting["content"] and "User" in greeting["content"]
    assert len(greeting["swipes"]) == 3  # first_mes and two alternate greetings


def test_streamed_reply_arrives_token_by_token_and_is_stored(client: httpx.Client) -> None:
    conversation = new_conversation(client)
    url = f"/api/conversations/{conversation['id']}/messages"
    arrivals: list[tuple[str, float]] = []
    with client.stream("POST", url, json={"content": "Tell me about your favourite season."}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = []
        for event, data in sse_events(r):
            events.append((event, data))
            arrivals.append((event, time.perf_counter()))
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "message"
    deltas = [d["text"] for e, d in events if e == "delta"]
    assert len(deltas) >= 5, "the reply should come as many small deltas"
    # Deltas are spread over time, not delivered in one burst at the end.
    times = [t for e, t in arrivals if e == "delta"]
    assert times[-1] - times[0] > 0.05

    user_message = events[0][1]["user_message"]
    reply = events[-1][1]
    assert user_message["content"] == "Tell me about your favourite season."
    assert reply["content"] == "".join(deltas).strip()
    assert reply["status"] == "complete"
    usage = reply["usage"]
    assert usage["completion_tokens"] == len(deltas)
    assert usage["prompt_tokens"] == usage["prompt_tokens_reused"] + usage["prompt_tokens_evaluated"]

    stored = client.get(f"/api/conversations/{conversation['id']}/messages").json()
    assert [m["role"] for m in stored] == ["assistant", "user", "assistant"]
    assert stored[1]["id"] == user_message["id"]
    assert stored[2]["content"] == reply["content"]


def test_non_streamed_reply_and_regenerate_keep_swipes(client: httpx.Client) -> None:
    conversation = new_conversation(client)
    cid = conversation["id"]
    r = client.post(f"/api/conversations/{cid}/messages", json={"content": "Hi!", "stream": False})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["role"] == "assistant" and first["content"]

    r = client.post(f"/api/conversations/{cid}/regenerate", json={"stream": False})
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["id"] == first["id"]
    assert again["swipes"][0] == first["content"]
    assert len(again["swipes"]) == 2 and again["swipe_index"] == 1

    # Streamed regenerate adds a third alternative.
    with client.stream("POST", f"/api/conversations/{cid}/regenerate") as resp:
        events = list(sse_events(resp))
    assert events[0] == ("start", {"user_message": None})
    assert events[-1][0] == "message" and len(events[-1][1]["swipes"]) == 3

    # Pick an earlier alternative, edit it, then delete the user message.
    r = client.patch(f"/api/messages/{first['id']}", json={"swipe_index": 0})
    assert r.json()["content"] == first["content"]
    r = client.patch(f"/api/messages/{first['id']}", json={"content": "An edited reply."})
    assert r.json()["content"] == "An edited reply." and r.json()["swipes"][0] == "An edited reply."
    messages = client.get(f"/api/conversations/{cid}/messages").json()
    assert client.delete(f"/api/messages/{messages[1]['id']}").status_code == 204
    roles = [m["role"] for m in client.get(f"/api/conversations/{cid}/messages").json()]
    assert roles == ["assistant", "assistant"]


def test_client_disconnect_cancels_generation(client: httpx.Client, server) -> None:  # noqa: ANN001
    conversation = new_conversation(client)
    cid = conversation["id"]
    url = f"/api/conversations/{cid}/messages"
    body = {"content": "Please tell me a very long story about a dragon and a lighthouse."}
    with client.stream("POST", url, json=body) as r:
        seen = 0
        for event, _ in sse_events(r):
            if event == "delta":
                seen += 1
                if seen == 3:
                    break  # leave mid-reply: the connection closes here
    # The partial reply is stored as interrupted, and the model is free again at once.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        messages = client.get(f"{url}").json()
        if messages[-1]["role"] == "assistant":
            break
        time.sleep(0.05)
    reply = messages[-1]
    assert reply["role"] == "assistant" and reply["status"] == "interrupted"
    limit = server.services.settings.llm.max_reply_tokens
    assert server.services.model.count(reply["content"]) < limit
    r = client.post(url, json={"content": "Are you still there?", "stream": False})
    assert r.status_code == 200 and r.json()["status"] == "complete"


def test_facts_follow_an_edited_then_deleted_message(client: httpx.Client, server) -> None:  # noqa: ANN001
    """PATCH drops the facts of the old words and extracts again in the background (from
    the sync route's thread); DELETE drops them; a fact added by hand stays."""
    conversation = new_conversation(client)
    r = client.post(f"/api/conversations/{conversation['id']}/import", json={"messages": [
        {"role": "user", "content": "My tortoise is called Pebble.",
         "created_at": "2025-05-01T10:00:00"},
        {"role": "assistant", "content": "What a lovely name.",
         "created_at": "2025-05-01T10:00:05"}]})
    said = r.json()["message_ids"][0]
    pebble = server.services.memory.add_fact(
        user_id=server.services.user.id, character_id=conversation["character_id"],
        text="User's tortoise is called Pebble.", source_message_ids=[said], said_at=time.time())
    by_hand = client.post("/api/facts", json={"character_id": conversation["character_id"],
                                              "text": "User is allergic to hazelnuts."}).json()

    def facts() -> dict[int, list[int]]:
        return {f["id"]: f["source_message_ids"] for f in client.get("/api/facts").json()}

    new = "My name is Dana, I work as a nurse in Porto and I have two cats."
    r = client.patch(f"/api/messages/{said}", json={"content": new})
    assert r.status_code == 200, r.text
    assert pebble.id not in facts()
    deadline = time.monotonic() + 60  # the background extraction, on the real model
    while time.monotonic() < deadline and [said] not in facts().values():
        time.sleep(0.2)
    assert [said] in facts().values(), "facts should be extracted from the new words"

    assert client.delete(f"/api/messages/{said}").status_code == 204
    left = facts()
    assert [said] not in left.values() and left[by_hand["id"]] == []


def test_a_message_prepared_while_it_is_typed_starts_without_evaluating_its_prompt(
    client: httpx.Client
) -> None:
    conversation = new_conversation(client)
    url = f"/api/conversations/{conversation['id']}"
    text = "I planted tulips and daffodils along the garden fence this afternoon."
    # The web page's typing pauses: part of the message, then all of it.
    for typed in (text[:30], text):
        r = client.post(f"{url}/prepare", json={"content": typed})
        assert r.status_code == 204, r.text
    assert len(client.get(f"{url}/messages").json()) == 1  # nothing stored: the greeting

    reply = client.post(f"{url}/messages", json={"content": text, "stream": False}).json()
    assert reply["usage"]["prompt_tokens_evaluated"] <= 1  # the last token, for its logits
    assert reply["usage"]["prompt_tokens"] > 100

    # Nothing to prepare, or no such conversation: said so.
    empty = client.post(f"{url}/prepare", json={"content": "  "})
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    missing = client.post("/api/conversations/999999/prepare", json={"content": "Hi"})
    assert missing.status_code == 404
