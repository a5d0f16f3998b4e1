"""The shared connection: transactions, and databases made by earlier versions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hearth.store import Store
from tests.store.conftest import Home


def test_a_transaction_that_raises_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.db.tx() as db:
        db.execute("INSERT INTO users (name, created_at) VALUES ('Ghost', 0)")
        raise RuntimeError("stop")
    assert store.people.find_by_name("Ghost") is None
    with store.db.tx() as db:  # the connection is usable again
        db.execute("INSERT INTO users (name, created_at) VALUES ('Kept', 0)")
    assert store.people.get_by_name("Kept").name == "Kept"


def test_a_batch_that_fails_halfway_is_not_stored_at_all(home: Home) -> None:
    store, conversation = home.store, home.conversation
    before = store.messages.list(conversation.id)
    with pytest.raises(sqlite3.IntegrityError):  # 'narrator' is not a role
        store.messages.add_many(conversation_id=conversation.id, items=[
            ("user", "first of the batch", 1.0), ("narrator", "second", 2.0)])
    assert store.messages.list(conversation.id) == before
    assert store.messages.search("batch", user_id=home.user.id, character_id=home.character.id,
                                 limit=5) == []


def test_writes_are_on_disk_when_they_return(home: Home, tmp_path: Path) -> None:
    said = home.store.messages.add(conversation_id=home.conversation.id, role="user",
                                   content="Remember the lighthouse.")
    with sqlite3.connect(tmp_path / "hearth.db") as other:  # another connection sees it
        (content,) = other.execute("SELECT swipes FROM messages WHERE id = ?",
                                   (said.id,)).fetchone()
    assert "lighthouse" in content


def test_a_database_reopens_with_its_data_and_schema(home: Home, tmp_path: Path) -> None:
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    before = [tuple(r) for r in home.store.db.all(schema)]
    home.store.close()
    again = Store(tmp_path / "hearth.db")
    try:
        assert [tuple(r) for r in again.db.all(schema)] == before
        assert again.people.get(home.user.id) == home.user
        assert [m.content for m in again.messages.list(home.conversation.id)] == ["Hello!"]
    finally:
        again.close()


def test_a_database_from_before_accounts_gains_roles(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # users as the first versions made them
        old.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at REAL NOT NULL)")
        old.execute("INSERT INTO users (name, created_at) VALUES ('User', 1.0)")
    store = Store(path)
    try:
        user = store.people.get_by_name("User")
        assert (user.role, user.has_password, user.created_at) == ("member", False, 1.0)
        owner = store.people.create("Alice", role="owner", password_hash="scrypt$x$y")
        assert owner.is_owner and owner.has_password and store.people.owner() == owner
    finally:
        store.close()


def test_meta_values_by_key(store: Store) -> None:
    assert store.meta.find("restore_generation") is None
    store.meta.set("restore_generation", "abc")
    store.meta.set("restore_generation", "def")
    assert store.meta.find("restore_generation") == "def"


def test_a_lease_is_held_by_one_holder_until_it_runs_out(tmp_path: Path) -> None:
    store = Store(tmp_path / "hearth.db")
    try:
        assert store.meta.claim("job", "serve", now=100.0, seconds=30)
        assert not store.meta.claim("job", "chat", now=120.0, seconds=30)  # serve holds it
        assert store.meta.claim("job", "serve", now=125.0, seconds=30)  # and renews it
        assert not store.meta.claim("job", "chat", now=150.0, seconds=30)
        assert store.meta.claim("job", "chat", now=156.0, seconds=30)  # serve went away
    finally:
        store.close()


def test_a_database_from_before_the_trigram_index_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = Store(path)
    user = store.people.ensure("Alice")
    character = store.characters.create(data={"name": "Ember"}, avatar=None)
    conversation = store.conversations.create(user_id=user.id, character_id=character.id,
                                              title="Ember", greetings=[])
    said = store.messages.add(conversation_id=conversation.id, role="user",
                              content="부산에서 고양이를 만났어요.")
    store.close()
    with sqlite3.connect(path) as old:  # as versions before the trigram index left it
        old.execute("DROP TABLE messages_grams")
    store = Store(path)
    try:
        for term in ("고양이", "부산"):
            assert store.messages.search_substrings(
                [term], user_id=user.id, character_id=character.id, limit=5) == [said.id]
    finally:
        store.close()
