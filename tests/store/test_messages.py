"""Messages, their swipes, and the lexical index kept in step with every change."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hearth.errors import NotFound
from hearth.store import Message, OwnedMessage
from tests.store.conftest import Home


def _search(home: Home, query: str) -> list[int]:
    return home.store.messages.search(query, user_id=home.user.id,
                                      character_id=home.character.id, limit=10)


def _indexed(home: Home, message_id: int) -> bool:
    return home.store.db.one("SELECT 1 FROM messages_fts WHERE rowid = ?", message_id) is not None


def test_add_returns_the_stored_message(home: Home) -> None:
    said = home.store.messages.add(conversation_id=home.conversation.id, role="user",
                                   content="I grow tomatoes.", created_at=1000.0)
    assert isinstance(said, Message)
    assert (said.role, said.content, said.status, said.created_at) == (
        "user", "I grow tomatoes.", "complete", 1000.0)
    assert home.store.messages.list(home.conversation.id)[-1] == said
    assert said.id in home.store.messages.ids()
    assert _search(home, "tomato") == [said.id]  # porter stemming


def test_another_users_message_is_not_found(home: Home) -> None:
    said = home.store.messages.add(conversation_id=home.conversation.id, role="user", content="x")
    assert home.store.messages.get(said.id, user_id=home.user.id) == said
    bob = home.store.people.ensure("Bob")
    with pytest.raises(NotFound, match=f"no message with id {said.id}; list a conversation's"):
        home.store.messages.get(said.id, user_id=bob.id)


def test_edits_and_swipes_change_what_search_finds(home: Home) -> None:
    messages = home.store.messages
    reply = messages.add(conversation_id=home.conversation.id, role="assistant",
                         content="Penguins live in the south.")
    swiped = messages.add_swipe(reply.id, content="Walruses live in the north.",
                                status="interrupted")
    assert swiped.swipes == ["Penguins live in the south.", "Walruses live in the north."]
    assert (swiped.swipe_index, swiped.status) == (1, "interrupted")
    assert _search(home, "walruses") == [reply.id] and _search(home, "penguins") == []
    edited = messages.edit(swiped, content="Seals live in the north.", status="complete")
    assert edited.content == "Seals live in the north." and edited.status == "complete"
    assert _search(home, "seals") == [reply.id] and _search(home, "walruses") == []
    shown = messages.edit(edited, swipe_index=0)
    assert shown.content == "Penguins live in the south." and _search(home, "penguins")


DELETES: dict[str, Callable[[Home, Message], object]] = {
    "message": lambda home, m: home.store.messages.delete(m.id),
    "conversation": lambda home, m: home.store.conversations.delete(m.conversation_id),
    "character": lambda home, m: home.store.characters.delete(home.character.id),
    "user": lambda home, m: home.store.people.delete(home.user.id),
}


@pytest.mark.parametrize("what", DELETES)
def test_deleted_text_leaves_the_search(home: Home, what: str) -> None:
    said = home.store.messages.add(conversation_id=home.conversation.id, role="user",
                                   content="The spare key is under the blue pot.")
    assert _search(home, "key") == [said.id] and _indexed(home, said.id)
    DELETES[what](home, said)
    assert _search(home, "key") == [] and not _indexed(home, said.id)
    assert home.store.db.one("SELECT COUNT(*) AS n FROM messages_fts")["n"] == 0  # type: ignore[index]
    grams = home.store.db.one("SELECT COUNT(*) AS n FROM messages_grams")
    assert grams is not None and grams["n"] == 0


def test_deleting_a_conversation_returns_its_message_ids(home: Home) -> None:
    store = home.store
    ids = store.messages.add_many(conversation_id=home.conversation.id, items=[
        ("user", "one", 1.0), ("assistant", "two", 2.0)])
    greeting = store.messages.list(home.conversation.id)[0].id
    assert sorted(store.conversations.delete(home.conversation.id)) == [greeting, *ids]


def test_owned_messages_carry_their_owner(home: Home) -> None:
    store = home.store
    ids = store.messages.add_many(conversation_id=home.conversation.id, items=[
        ("user", "one", 1.0), ("assistant", "two", 2.0)])
    rows = store.messages.owned(ids=ids)
    assert all(isinstance(r, OwnedMessage) for r in rows)
    assert {(r.message.id, r.user_id, r.character_id) for r in rows} == {
        (i, home.user.id, home.character.id) for i in ids}
    in_order = store.messages.owned(after_id=ids[0] - 1, limit=1)
    assert [r.message.content for r in in_order] == ["one"]


def test_neighbours_and_when_the_user_spoke(home: Home) -> None:
    store = home.store
    asked, answered = store.messages.add_many(conversation_id=home.conversation.id, items=[
        ("user", "Did you go?", 100.0), ("assistant", "Yes, in June!", 101.0)])
    later = store.conversations.create(user_id=home.user.id, character_id=home.character.id,
                                       title="later", greetings=[])
    store.messages.add(conversation_id=later.id, role="user", content="Back.", created_at=500.0)
    beside = store.messages.neighbours([(answered, False), (asked, True)])
    assert beside[answered].id == asked and beside[asked].id == answered
    owner = {"user_id": home.user.id, "character_id": home.character.id}
    assert store.messages.first_said(**owner) == 100.0
    assert store.messages.last_said_before(**owner, before=500.0) == 100.0
    assert store.messages.last_said_before(**owner, before=100.0) is None


def _substrings(home: Home, *terms: str) -> list[int]:
    return home.store.messages.search_substrings(terms, user_id=home.user.id,
                                                 character_id=home.character.id, limit=10)


def test_korean_words_are_found_inside_words_with_particles(home: Home) -> None:
    add = home.store.messages.add
    cat = add(conversation_id=home.conversation.id, role="user", content="우리 고양이가 아파요.")
    busan = add(conversation_id=home.conversation.id, role="user",
                content="주말에 부산에서 친구를 만났어.")
    both = add(conversation_id=home.conversation.id, role="user",
               content="부산에 있는 고양이 카페에 갔어.")
    add(conversation_id=home.conversation.id, role="user", content="오늘은 비가 와요.")
    assert set(_substrings(home, "고양이")) == {cat.id, both.id}  # trigram index
    assert set(_substrings(home, "부산")) == {busan.id, both.id}  # two syllables: a scan
    assert _substrings(home, "고양이", "부산")[0] == both.id  # more of the terms first
    assert _substrings(home, "서울") == []
    # Only this user's messages with this character.
    bob = home.store.people.ensure("Bob")
    theirs = home.store.conversations.create(user_id=bob.id, character_id=home.character.id,
                                             title="x", greetings=[])
    add(conversation_id=theirs.id, role="user", content="부산 고양이")
    assert set(_substrings(home, "부산")) == {busan.id, both.id}


def test_edited_korean_text_is_searched_by_its_new_words(home: Home) -> None:
    said = home.store.messages.add(conversation_id=home.conversation.id, role="user",
                                   content="강아지를 키워요.")
    assert _substrings(home, "강아지") == [said.id]
    home.store.messages.edit(said, content="고양이를 키워요.")
    assert _substrings(home, "강아지") == [] and _substrings(home, "고양이") == [said.id]
