"""Characters: cards by id or by name, avatars, and what deleting one takes with it."""

from __future__ import annotations

import pytest

from hearth.errors import NotFound
from hearth.store import Character, Store
from tests.store.conftest import Home


def test_lookups_raise_or_return_none(store: Store) -> None:
    ember = store.characters.create(data={"name": "Ember", "tags": ["warm"]}, avatar=None)
    assert isinstance(ember, Character) and ember.data["tags"] == ["warm"]
    assert store.characters.get(ember.id) == ember
    assert store.characters.get_by_name("ember") == ember == store.characters.find_by_name("EMBER")
    assert store.characters.find_by_name("Mira") is None
    with pytest.raises(NotFound, match=r"no character with id 99; list them at /api/characters"):
        store.characters.get(99)
    with pytest.raises(NotFound, match=r"no character named 'Mira'; `hearth characters list`"):
        store.characters.get_by_name("Mira")


def test_list_count_update_and_avatar(store: Store) -> None:
    mira = store.characters.create(data={"name": "Mira"}, avatar=None)
    ember = store.characters.create(data={"name": "Ember"}, avatar=b"png")
    assert [c.name for c in store.characters.list()] == ["Ember", "Mira"]
    assert store.characters.count() == 2
    assert store.characters.avatar(ember.id) == b"png" and store.characters.avatar(mira.id) is None
    renamed = store.characters.update(mira.id, data={"name": "Mirabel"}, avatar=b"new")
    assert renamed.name == "Mirabel" and renamed.has_avatar
    assert store.characters.update(mira.id, data={"name": "Mira"}).has_avatar  # avatar kept
    with pytest.raises(NotFound):
        store.characters.update(99, data={"name": "Nobody"})
    with pytest.raises(NotFound):
        store.characters.avatar(99)


def test_deleting_a_character_takes_its_conversations(home: Home) -> None:
    store = home.store
    before = [m.id for m in store.messages.list(home.conversation.id)]
    assert store.characters.delete(home.character.id) == before
    assert store.messages.list(home.conversation.id) == []
    assert store.characters.find_by_name("Ember") is None
    assert store.conversations.list(user_id=home.user.id) == []
    with pytest.raises(NotFound):
        store.characters.delete(home.character.id)
