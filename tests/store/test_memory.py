"""Facts, summaries, notes and windows read back as records."""

from __future__ import annotations

import pytest

from hearth.errors import NotFound
from hearth.store import Fact, Note, StoredWindow, Summary
from tests.store.conftest import Home


def test_facts_belong_to_their_user(home: Home) -> None:
    store, user = home.store, home.user
    fact = store.facts.add(user_id=user.id, character_id=home.character.id,
                           text="Alice grows tomatoes.", source_message_ids=[1], said_at=50.0)
    assert isinstance(fact, Fact) and fact.source_message_ids == [1]
    assert store.facts.get(fact.id, user_id=user.id) == fact
    assert store.facts.list(user_id=user.id) == [fact]
    assert store.facts.list(user_id=user.id, character_id=home.character.id + 1) == []
    assert store.facts.by_ids([fact.id, 999]) == [fact]
    bob = store.people.ensure("Bob")
    with pytest.raises(NotFound, match=f"no fact with id {fact.id}; list them at /api/facts"):
        store.facts.get(fact.id, user_id=bob.id)
    with pytest.raises(NotFound):
        store.facts.delete(fact.id, user_id=bob.id)
    assert store.facts.update(fact.id, user_id=user.id, text="Alice grows beans.").text == (
        "Alice grows beans.")
    store.facts.delete(fact.id, user_id=user.id)
    assert store.facts.list(user_id=user.id) == []


def test_a_summary_is_found_or_none(home: Home) -> None:
    summaries, conversation_id = home.store.summaries, home.conversation.id
    assert summaries.find(conversation_id) is None and summaries.conversation_ids() == []
    summaries.set(conversation_id, text="They met.", upto_message_id=1)
    summary = summaries.find(conversation_id)
    assert isinstance(summary, Summary)
    assert (summary.text, summary.upto_message_id) == ("They met.", 1)
    assert summary.updated_at > 0 and summaries.conversation_ids() == [conversation_id]


def test_notes_by_message(home: Home) -> None:
    store = home.store
    said = store.messages.add(conversation_id=home.conversation.id, role="user", content="hi")
    assert store.notes.in_conversation(home.conversation.id) == {}
    store.notes.set(said.id, text="(She remembers the tomatoes.)", sources=("m3", "f1"))
    assert store.notes.in_conversation(home.conversation.id) == {
        said.id: Note("(She remembers the tomatoes.)", ["m3", "f1"])}


def test_a_window_is_found_or_none(home: Home) -> None:
    windows, conversation_id = home.store.windows, home.conversation.id
    assert windows.find(conversation_id) is None
    windows.set(conversation_id, start_message_id=4, profile="Alice", summary="They met.")
    windows.set(conversation_id, start_message_id=9, profile="Alice", summary="They met twice.")
    assert windows.find(conversation_id) == StoredWindow(9, "Alice", "They met twice.")
