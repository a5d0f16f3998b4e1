"""Every bad input gets a clear 4xx in the one error shape, and changes nothing."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from hearth.characters import to_v2
from tests.utils.cards import chunk, rich_v2_data, text_chunk, tiny_png


def snapshot(client: httpx.Client) -> tuple:
    characters = client.get("/api/characters").json()
    conversations = client.get("/api/conversations").json()
    messages = [client.get(f"/api/conversations/{c['id']}/messages").json() for c in conversations]
    return characters, conversations, messages


def assert_error(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] and error["message"]
    for word in words:
        assert word.lower() in error["message"].lower(), error["message"]


BAD_CARDS = {
    "not a png or json": (b"GIF89a this is a gif", 422, "neither a PNG"),
    "png without card": (tiny_png(), 422, "no character card"),
    "truncated png": (tiny_png()[:30], 422, "not a valid PNG"),
    "bad base64": (tiny_png(chunk(b"tEXt", b"chara\0!!!not base64!!!")), 422, "base64"),
    "bad json in png": (
        tiny_png(chunk(b"tEXt", b"chara\0" + base64.b64encode(b"{nope"))), 422, "JSON"),
    "bad json file": (b'{"spec": "chara_card_v2", "data": {', 422, "JSON"),
    "missing name": (json.dumps({"spec": "chara_card_v2", "spec_version": "2.0",
                                 "data": {"description": "x"}}).encode(), 422, "name"),
    "empty name in png": (tiny_png(text_chunk("chara", to_v2({**rich_v2_data(), "name": ""}))),
                          422, "name"),
    "wrong field type": (json.dumps({"name": "X", "alternate_greetings": "hi"}).encode(), 422,
                         "alternate_greetings"),
}


@pytest.mark.parametrize("case", BAD_CARDS)
def test_broken_card_is_refused_and_stores_nothing(client: httpx.Client, case: str) -> None:
    raw, status, words = BAD_CARDS[case]
    before = snapshot(client)
    r = client.post("/api/characters/import", files={"file": ("card.png", raw)})
    assert_error(r, status, words)
    assert snapshot(client) == before


def test_too_large_card_and_body(client: httpx.Client, server) -> None:  # noqa: ANN001
    limits = server.services.settings.limits
    before = snapshot(client)
    huge = b"{" + b" " * (limits.max_card_bytes + 10) + b"}"
    r = client.post("/api/characters/import", files={"file": ("card.json", huge)})
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    body = json.dumps({"content": "x" * (limits.max_body_bytes + 10)})
    r = client.post("/api/conversations/1/messages", content=body,
                    headers={"content-type": "application/json"})
    assert_error(r, 413, "limit")
    assert snapshot(client) == before


def test_unknown_ids_are_404(client: httpx.Client) -> None:
    before = snapshot(client)
    for method, url, body in [
        ("GET", "/api/characters/999999", None),
        ("PATCH", "/api/characters/999999", {"name": "x"}),
        ("DELETE", "/api/characters/999999", None),
        ("GET", "/api/characters/999999/export", None),
        ("GET", "/api/characters/999999/avatar", None),
        ("POST", "/api/conversations", {"character_id": 999999}),
        ("GET", "/api/conversations/999999", None),
        ("GET", "/api/conversations/999999/messages", None),
        ("POST", "/api/conversations/999999/messages", {"content": "hi"}),
        ("POST", "/api/conversations/999999/regenerate", None),
        ("PATCH", "/api/messages/999999", {"content": "x"}),
        ("DELETE", "/api/messages/999999", None),
        ("GET", "/api/nothing-here", None),
    ]:
        r = client.request(method, url, json=body)
        assert_error(r, 404)
    assert snapshot(client) == before


def test_bad_messages_are_refused_and_store_nothing(client: httpx.Client, server) -> None:  # noqa: ANN001
    character_id = client.get("/api/characters").json()[0]["id"]
    conversation = client.post("/api/conversations", json={"character_id": character_id}).json()
    cid = conversation["id"]
    greeting = conversation["messages"][0]
    before = snapshot(client)
    limit = server.services.settings.limits.max_message_chars
    cases = [
        ({"content": "   "}, 422, "empty"),
        ({"content": "x" * (limit + 1)}, 413, "limit"),
        ({"content": "word " * 3000}, 413, "shorten"),  # fits the char limit, not the window
        ({"text": "wrong field"}, 422, "content"),
        ({"content": 42}, 422, "content"),
    ]
    for body, status, word in cases:
        assert_error(client.post(f"/api/conversations/{cid}/messages", json=body), status, word)
    r = client.post(f"/api/conversations/{cid}/messages", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert_error(r, 422)
    assert_error(client.post(f"/api/conversations/{cid}/regenerate"), 409, "send a message")
    assert_error(client.patch(f"/api/messages/{greeting['id']}", json={"swipe_index": 9}), 422,
                 "out of range")
    assert_error(client.patch(f"/api/messages/{greeting['id']}", json={}), 422, "nothing to change")
    assert_error(client.post("/api/characters", json={"description": "no name"}), 422, "name")
    assert_error(client.put("/api/characters/1/avatar", files={"file": ("a.png", b"GIF89a")}), 422,
                 "PNG")
    assert_error(client.get("/api/characters/1/export?format=gif"), 422)
    assert snapshot(client) == before
