"""SillyTavern's own server talking to Hearth: the connection check, and replies, streamed
and not, that reach Hearth and are stored there as SillyTavern shows them.

Each request is the one SillyTavern's UI sends with Chat Completion → Custom
(OpenAI-compatible) at Hearth's `/v1`: its server then calls Hearth's `/v1/models` and
`/v1/chat/completions` with the saved API key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.sillytavern.conftest import PACKAGE, Hearth, SillyTavern, sillytavern_version

MODEL = "ember"
# SillyTavern's default main prompt, as its prompt manager sends it for Ember and "User".
MAIN_PROMPT = "Write Ember's next reply in a fictional chat between Ember and User."


def ember(hearth: Hearth) -> dict[str, Any]:
    r = hearth.api.get(f"/v1/models/{MODEL}")
    assert r.status_code == 200, r.text
    return r.json()


def stored(hearth: Hearth) -> tuple[int, list[dict[str, Any]]]:
    """Hearth's latest conversation with Ember and its messages (where a client that
    names no thread lands)."""
    character_id = ember(hearth)["character_id"]
    conversations = [c for c in hearth.api.get("/api/conversations").json()
                     if c["character_id"] == character_id]
    assert conversations, "Hearth stored no conversation with Ember"
    latest = max(conversations, key=lambda c: (c["updated_at"], c["id"]))
    r = hearth.api.get(f"/api/conversations/{latest['id']}/messages")
    assert r.status_code == 200, r.text
    return latest["id"], r.json()


def prompt(history: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The messages SillyTavern's prompt manager builds: its main prompt, the chat so far
    (the greeting first), then the new user message."""
    return [{"role": "system", "content": MAIN_PROMPT}, *history,
            {"role": "user", "content": text}]


def st_message(name: str, is_user: bool, text: str) -> dict[str, Any]:
    """One line of a SillyTavern chat file, as its UI writes it."""
    return {"name": name, "is_user": is_user, "is_system": False,
            "send_date": datetime.now(UTC).isoformat(), "mes": text, "extra": {}}


def test_the_pinned_sillytavern_runs(sillytavern: SillyTavern) -> None:
    r = sillytavern.http.get("/version")
    assert r.status_code == 200, r.text
    assert r.json()["pkgVersion"] == sillytavern_version()
    assert PACKAGE.parent.name == "node_modules"


def test_status_lists_hearths_characters(sillytavern: SillyTavern, hearth: Hearth) -> None:
    status = sillytavern.status(hearth.url + "/v1")
    assert "error" not in status, status
    ids = {m["id"] for m in status["data"]}
    assert MODEL in ids
    listed = {m["id"] for m in hearth.api.get("/v1/models").json()["data"]}
    assert ids == listed


def test_status_with_a_wrong_address_is_an_error(sillytavern: SillyTavern,
                                                 hearth: Hearth) -> None:
    assert sillytavern.status(hearth.url + "/nowhere").get("error") is True


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_reply_through_sillytavern_is_stored(sillytavern: SillyTavern, hearth: Hearth,
                                               stream: bool) -> None:
    """SillyTavern's server forwards the UI's request to Hearth and relays the reply;
    Hearth stores the turn as SillyTavern shows it."""
    text = ("Tell me about your favourite tea." if stream
            else "Hello Ember! What are you doing today?")
    before = {c["id"] for c in hearth.api.get("/api/conversations").json()}
    _, history = stored(hearth) if before else (None, [])
    sent = prompt([{"role": m["role"], "content": m["content"]} for m in history], text)

    reply = sillytavern.generate(hearth.url + "/v1", MODEL, sent, stream=stream)

    assert reply.strip()
    conversation, messages = stored(hearth)
    assert messages[0]["role"] == "assistant"  # the character's greeting
    assert [m["role"] for m in messages[-2:]] == ["user", "assistant"]
    assert messages[-2]["content"] == text
    assert messages[-1]["content"] == reply.strip()
    assert messages[-1]["status"] == "complete"
    if history:
        assert messages[:len(history)] == history, "the earlier turns are untouched"

    # The UI saves its chat file; read back, it matches Hearth message for message.
    avatar = sillytavern.create_character("Ember")
    file_name = f"Ember - hearth {conversation}"
    header = {"user_name": "User", "character_name": "Ember",
              "create_date": datetime.now(UTC).isoformat(), "chat_metadata": {}}
    chat = [header, *(st_message("User" if m["role"] == "user" else "Ember",
                                 m["role"] == "user", m["content"]) for m in messages[:-1]),
            st_message("Ember", False, reply)]
    sillytavern.save_chat(avatar, file_name, chat)
    saved = sillytavern.get_chat(avatar, file_name)
    assert saved[0]["character_name"] == "Ember"
    assert [(m["is_user"], m["mes"].strip()) for m in saved[1:]] == [
        (m["role"] == "user", m["content"]) for m in messages]
