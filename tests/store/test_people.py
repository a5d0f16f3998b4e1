"""Users and their tokens; the lookup rule: get* raises NotFound, find* returns None."""

from __future__ import annotations

import pytest

from hearth.errors import Conflict, NotFound
from hearth.store import Store, Token, User
from tests.store.conftest import Home


def test_lookups_raise_or_return_none(store: Store) -> None:
    alice = store.people.ensure("Alice")
    assert isinstance(alice, User) and store.people.ensure("alice") == alice
    assert store.people.get(alice.id) == alice
    assert store.people.get_by_name("ALICE") == alice == store.people.find_by_name("alice")
    assert store.people.find_by_name("Bob") is None
    with pytest.raises(NotFound, match=r"no user with id 99; list them at /api/users"):
        store.people.get(99)
    with pytest.raises(NotFound, match=r"no user named 'Bob'; `hearth users list` shows them"):
        store.people.get_by_name("Bob")


def test_create_update_and_the_owner(store: Store) -> None:
    assert store.people.owner() is None
    bob = store.people.create("Bob", role="member", password_hash=None)
    with pytest.raises(Conflict, match="already a user named 'bob'"):
        store.people.create("bob", role="member", password_hash=None)
    assert not bob.has_password and store.people.password_hash(bob.id) is None
    bob = store.people.update(bob.id, role="owner", password_hash="scrypt$a$b")
    assert bob.is_owner and bob.has_password and store.people.owner() == bob
    assert store.people.password_hash(bob.id) == "scrypt$a$b"
    assert store.people.update(bob.id, name="Robert").name == "Robert"
    carol = store.people.ensure("Carol")
    assert store.people.list() == [store.people.get(bob.id), carol]
    assert store.people.ids() == [bob.id, carol.id]


def test_tokens_find_their_user_until_they_expire(store: Store) -> None:
    alice = store.people.ensure("Alice")
    token = store.tokens.add(alice.id, kind="session", label="browser", digest="d1",
                             expires_at=200.0)
    assert isinstance(token, Token) and token.last_used_at is None
    assert store.people.find_by_token("d1", now=100.0) == alice
    assert store.tokens.list(alice.id)[0].last_used_at == 100.0  # its use is noted
    assert store.people.find_by_token("d1", now=300.0) is None  # expired
    assert store.people.find_by_token("unknown", now=100.0) is None


def test_tokens_are_deleted_by_id_digest_or_kind(store: Store) -> None:
    alice, bob = store.people.ensure("Alice"), store.people.ensure("Bob")
    api = store.tokens.add(alice.id, kind="api", label="phone", digest="a1", expires_at=None)
    store.tokens.add(alice.id, kind="session", label="s", digest="a2", expires_at=None)
    store.tokens.add(alice.id, kind="session", label="s", digest="a3", expires_at=None)
    with pytest.raises(NotFound, match=f"no token with id {api.id}"):
        store.tokens.delete(api.id, user_id=bob.id)  # not Bob's to delete
    assert store.tokens.delete_all(alice.id, kind="session") == 2
    store.tokens.delete_digest("a1")
    assert store.tokens.list(alice.id) == []


def test_deleting_a_user_takes_their_data(home: Home) -> None:
    store, user = home.store, home.user
    said = store.messages.add(conversation_id=home.conversation.id, role="user", content="hi")
    store.tokens.add(user.id, kind="api", label="x", digest="d", expires_at=None)
    deleted = store.people.delete(user.id)
    assert said.id in deleted and len(deleted) == 2  # the greeting and what was said
    assert store.people.find_by_name(user.name) is None
    assert store.people.find_by_token("d", now=0.0) is None
    with pytest.raises(NotFound):
        store.conversations.get(home.conversation.id, user_id=user.id)
    with pytest.raises(NotFound, match=f"no user with id {user.id}"):
        store.people.delete(user.id)
