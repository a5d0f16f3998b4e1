"""Conversations: opened by a greeting, private to their user, named by threads."""

from __future__ import annotations

import pytest

from hearth.errors import NotFound
from tests.store.conftest import Home


def test_a_conversation_opens_with_its_greetings_as_swipes(home: Home) -> None:
    (greeting,) = home.store.messages.list(home.conversation.id)
    assert greeting.role == "assistant" and greeting.swipes == ["Hello!", "Hi there!"]
    assert greeting.content == "Hello!"


def test_another_users_conversation_is_not_found(home: Home) -> None:
    store = home.store
    bob = store.people.ensure("Bob")
    assert store.conversations.get(home.conversation.id, user_id=home.user.id) == home.conversation
    with pytest.raises(NotFound, match=f"no conversation with id {home.conversation.id}; list"):
        store.conversations.get(home.conversation.id, user_id=bob.id)
    assert store.conversations.list(user_id=bob.id) == []
    assert store.conversations.latest(user_id=bob.id, character_id=home.character.id) is None


def test_the_latest_conversation_is_the_last_one_spoken_in(home: Home) -> None:
    store, user, character = home.store, home.user, home.character
    newer = store.conversations.create(user_id=user.id, character_id=character.id, title="2",
                                       greetings=[])
    assert store.conversations.latest(user_id=user.id, character_id=character.id) == newer
    store.messages.add(conversation_id=home.conversation.id, role="user", content="back again")
    latest = store.conversations.latest(user_id=user.id, character_id=character.id)
    assert latest is not None and latest.id == home.conversation.id
    assert [c.id for c in store.conversations.list(user_id=user.id)] == [latest.id, newer.id]


def test_threads_name_a_conversation_until_it_is_deleted(home: Home) -> None:
    store = home.store
    owner = {"user_id": home.user.id, "character_id": home.character.id}
    assert store.conversations.find_thread(**owner, name="kitchen") is None
    store.conversations.set_thread(**owner, name="kitchen", conversation_id=home.conversation.id)
    assert store.conversations.find_thread(**owner, name="kitchen") == home.conversation
    store.conversations.delete(home.conversation.id)
    assert store.conversations.find_thread(**owner, name="kitchen") is None
