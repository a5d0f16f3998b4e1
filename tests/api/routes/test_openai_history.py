"""A client that sends its whole chat with every request (SillyTavern's way), through the
official `openai` package: Hearth follows its swipes, edits, deletes, continues and new
chats, and its stored conversations end equal to the client's chats."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.routes.test_openai_chat import HEADER, House, Person, _person, house, messages
from tests.utils.client_chats import ClientChats, scripted_session

__all__ = ["house"]  # the live server, shared with test_openai_chat's fixture
HISTORY = "X-Hearth-History"
GREETING = "Hello! I'm Juniper. What shall we talk about?"


def character(person: Person, name: str) -> tuple[str, int]:
    """A new character of `person`'s with a fixed greeting: (model id, character id)."""
    r = person.api.post("/api/characters", json={"name": name, "first_mes": GREETING})
    assert r.status_code == 201, r.text
    made = r.json()["id"]
    model = next(m.id for m in person.ai.models.list() if m.model_extra["character_id"] == made)
    return model, made


def stored_chats(person: Person, character_id: int) -> list[list[tuple[str, str]]]:
    conversations = [c["id"] for c in person.api.get("/api/conversations").json()
                     if c["character_id"] == character_id]
    return [[(m["role"], m["content"]) for m in messages(person, c)]
            for c in sorted(conversations)]


class Requests:
    """The transport: one request of the official client, its headers kept."""

    def __init__(self, person: Person, model: str, max_tokens: int = 12) -> None:
        self.person, self.model, self.max_tokens = person, model, max_tokens
        self.headers: Any = {}

    def __call__(self, msgs: list[dict[str, Any]]) -> str:
        raw = self.person.ai.chat.completions.with_raw_response.create(
            model=self.model, messages=msgs, max_tokens=self.max_tokens)
        self.headers = raw.headers
        return raw.parse().choices[0].message.content or ""


@pytest.fixture(scope="module")
def juniper(house: House) -> tuple[str, int]:
    return character(house.bob, "Juniper")


def test_swipe_edit_delete_and_continue_are_followed(house: House,
                                                     juniper: tuple[str, int]) -> None:
    bob, (model, character_id) = house.bob, juniper
    send = Requests(bob, model)
    client = ClientChats(send, GREETING)
    client.send("I bought a tortoise today. His name is Pebble.")
    conversation = int(send.headers[HEADER])
    first = messages(bob, conversation)
    assert [m["content"] for m in first] == [GREETING, client.chat[1]["content"],
                                             client.chat[2]["content"]]

    client.swipe()  # the same history less the reply: a new swipe of it, not a new turn
    assert "regenerated message" in send.headers[HISTORY]
    swiped = messages(bob, conversation)
    assert len(swiped) == 3 and len(swiped[2]["swipes"]) == 2
    assert swiped[2]["content"] == client.chat[2]["content"]

    client.edit(1, "I bought a tortoise today. His name is Rocky.")
    client.send("What should I feed him?")  # the edit reaches Hearth with this request
    assert f"edited message {first[1]['id']}" in send.headers[HISTORY]
    assert int(send.headers[HEADER]) == conversation
    after = messages(bob, conversation)
    assert after[1]["content"].endswith("Rocky.") and after[1]["id"] == first[1]["id"]

    client.delete(2)
    client.send("Do tortoises like lettuce?")
    assert "deleted message" in send.headers[HISTORY]

    client.continue_reply()
    assert HISTORY not in send.headers  # nothing to bring in step
    assert stored_chats(bob, character_id) == client.shown()


def test_a_history_that_cannot_follow_forks_a_new_conversation(house: House) -> None:
    bob = house.bob
    model, character_id = character(bob, "Hazel")
    send = Requests(bob, model)
    client = ClientChats(send, GREETING, char="Hazel")
    client.send("One.")
    client.send("Two.")
    conversation = int(send.headers[HEADER])
    before = messages(bob, conversation)

    # A message only the client has, between ones Hearth has: not this conversation.
    client.chat.insert(2, {"role": "user", "content": "Zero."})
    client.chat.insert(3, {"role": "assistant", "content": "Oh?"})
    client.send("Three.")
    forked = int(send.headers[HEADER])
    assert forked != conversation
    assert f"forked from conversation {conversation}" in send.headers[HISTORY]
    assert messages(bob, conversation) == before, "the old conversation is untouched"
    assert stored_chats(bob, character_id)[-1] == client.shown()[0]


def test_a_new_chat_opens_a_new_conversation(house: House) -> None:
    bob = house.bob
    model, character_id = character(bob, "Rowan")
    send = Requests(bob, model)
    client = ClientChats(send, GREETING, char="Rowan")
    client.send("Hi!")
    first = int(send.headers[HEADER])
    client.send("How are you?")
    client.new_chat()
    client.send("Hi!")  # the same first words, but the first chat has more: a new one
    client.send("Something new.")
    assert int(send.headers[HEADER]) != first
    client.open(0)
    client.send("Back again.")
    assert int(send.headers[HEADER]) == first
    assert stored_chats(bob, character_id) == client.shown()


def test_a_scripted_session_of_30_actions_ends_equal(house: House) -> None:
    """Issue 17's goal, through the official client (tests/sillytavern runs the same
    script through SillyTavern's own server)."""
    bob = house.bob
    model, character_id = character(bob, "Juniper Two")
    client = ClientChats(Requests(bob, model), GREETING, char="Juniper Two")
    assert scripted_session(client) == 30
    assert stored_chats(bob, character_id) == client.shown()


def test_whose_card_speaks_is_a_setting(house: House) -> None:
    """SillyTavern sends the card it shows as system text: by default Hearth's character
    speaks (and says so); with server.client_card = 'client' the client's text is the
    card for that turn, memory and history still Hearth's."""
    alice, services = house.alice, house.services
    msgs = [{"role": "system", "content": "You are Seraphina, a healer of the forest."},
            {"role": "user", "content": "Who are you?"}]
    raw = alice.ai.chat.completions.with_raw_response.create(
        model="ember", messages=msgs, user="cards", max_tokens=4)
    assert "Ember's own card spoke" in raw.headers["X-Hearth-Note"]

    settings = services.settings.server
    settings.client_card = "client"
    try:
        raw = alice.ai.chat.completions.with_raw_response.create(
            model="ember", messages=msgs, user="cards", max_tokens=4)
    finally:
        settings.client_card = "character"
    assert "card spoke" not in raw.headers.get("X-Hearth-Note", "")
    person = services.accounts.local_user()  # Alice, the owner
    conversation = services.store.conversations.get(int(raw.headers[HEADER]), user_id=person.id)
    history = services.store.messages.list(conversation.id)
    card = {"name": "Ember", "system_prompt": msgs[0]["content"]}
    window = services.chat.build(person, conversation, history, "And now?", 0.0, card)
    system = window.messages[0].content
    assert "Seraphina" in system
    own = services.chat.build(person, conversation, history, "And now?", 0.0)
    assert "Seraphina" not in own.messages[0].content


def test_a_name_the_client_gives_reaches_the_profile(house: House) -> None:
    services = house.services
    for member, messages_sent, shown in [
        ("Carol", [{"role": "user", "name": "Caro", "content": "Hi!"}], "Caro"),
        ("Dan", [{"role": "system", "content": "Write Ember's next reply in a fictional chat "
                  "between Ember and Dana."}, {"role": "user", "content": "Hi!"}], "Dana"),
        ("Eve", [{"role": "system", "content": "Write Ember's next reply in a fictional chat "
                  "between Ember and User."}, {"role": "user", "content": "Hi!"}], ""),
        ("Fumi", [{"role": "user", "name": "ふみ", "content": "こんにちは"}], "ふみ"),
    ]:
        _, token = services.accounts.add_member(member)
        person = _person(house.url, token)
        raw = person.ai.chat.completions.with_raw_response.create(
            model="ember", messages=messages_sent, max_tokens=2)
        me = person.api.get("/api/me").json()
        assert me["display_name"] == shown, member
        notes = raw.parse().model_extra["notes"]
        named = [n for n in notes if "display name" in n]
        assert (len(named) == 1 and shown in named[0]) if shown else named == []
        assert raw.headers.get("X-Hearth-Note", "").isascii()  # escaped there
        # A name the person chose is theirs: a client's other name changes nothing.
        if shown:
            person.ai.chat.completions.create(model="ember", max_tokens=2, messages=[
                {"role": "user", "name": "Someone", "content": "Hello again"}])
            assert person.api.get("/api/me").json()["display_name"] == shown
        person.ai.close()
        person.api.close()
