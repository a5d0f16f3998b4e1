"""Issue 17's goal through SillyTavern's own server: a scripted session of 30 actions
(turns, swipes, edits, deletes, continues, an impersonation, new chats, going back to
an older chat), after which Hearth's stored conversations equal SillyTavern's chats
message for message.

The UI's part is played here: it keeps the chats, sends each generation through
SillyTavern's `/api/backends/chat-completions/generate` (which calls Hearth), and saves
every chat with `/api/chats/save`; what is compared is what SillyTavern reads back
from its chat files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.sillytavern.conftest import Hearth, SillyTavern
from tests.utils.client_chats import ClientChats, scripted_session

GREETING = "Hello! I'm Juniper. What shall we talk about?"


def hearth_chats(hearth: Hearth, character_id: int) -> list[list[tuple[str, str]]]:
    conversations = sorted(c["id"] for c in hearth.api.get("/api/conversations").json()
                           if c["character_id"] == character_id)
    return [[(m["role"], m["content"]) for m in
             hearth.api.get(f"/api/conversations/{c}/messages").json()] for c in conversations]


def saved_chats(sillytavern: SillyTavern, avatar: str, client: ClientChats
                ) -> list[list[tuple[str, str]]]:
    """Every chat, saved by SillyTavern as its UI saves it and read back from its files."""
    out = []
    for n, chat in enumerate(client.chats):
        header: dict[str, Any] = {"user_name": "User", "character_name": "Juniper",
                                  "create_date": datetime.now(UTC).isoformat(),
                                  "chat_metadata": {}}
        lines = [{"name": "User" if m["role"] == "user" else "Juniper",
                  "is_user": m["role"] == "user", "is_system": False,
                  "send_date": datetime.now(UTC).isoformat(), "mes": m["content"], "extra": {}}
                 for m in chat]
        sillytavern.save_chat(avatar, f"Juniper - chat {n}", [header, *lines])
        read = sillytavern.get_chat(avatar, f"Juniper - chat {n}")
        out.append([("user" if m["is_user"] else "assistant", m["mes"].strip())
                    for m in read[1:]])
    return out


def test_a_scripted_session_of_30_actions_ends_equal(sillytavern: SillyTavern,
                                                     hearth: Hearth) -> None:
    made = hearth.api.post("/api/characters", json={"name": "Juniper", "first_mes": GREETING})
    assert made.status_code == 201, made.text
    character_id = made.json()["id"]
    model = next(m["id"] for m in hearth.api.get("/v1/models").json()["data"]
                 if m["character_id"] == character_id)
    avatar = sillytavern.create_character("Juniper", first_mes=GREETING)
    streamed = iter(range(10**6))

    def generate(messages: list[dict[str, Any]]) -> str:
        # Every other request streamed, as the UI's "Streaming" switch would have it.
        return sillytavern.generate(hearth.url + "/v1", model, messages,
                                    stream=next(streamed) % 2 == 1, max_tokens=12)

    client = ClientChats(generate, GREETING)
    assert scripted_session(client) == 30
    assert client.requests == 22
    assert len(client.chats) == 2
    assert saved_chats(sillytavern, avatar, client) == client.shown()
    assert hearth_chats(hearth, character_id) == saved_chats(sillytavern, avatar, client)
