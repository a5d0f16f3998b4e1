"""A fresh store on a temporary SQLite file, with one user, character and conversation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hearth.store import Character, Conversation, Store, User


@dataclass(frozen=True)
class Home:
    store: Store
    user: User
    character: Character
    conversation: Conversation


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "hearth.db")
    yield store
    store.close()


@pytest.fixture
def home(store: Store) -> Home:
    user = store.people.ensure("Alice")
    character = store.characters.create(data={"name": "Ember"}, avatar=None)
    conversation = store.conversations.create(user_id=user.id, character_id=character.id,
                                              title="Ember", greetings=["Hello!", "Hi there!"])
    return Home(store, user, character, conversation)
