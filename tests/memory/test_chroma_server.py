"""Memory kept in a Chroma server (`memory.chroma_url`) instead of the embedded store.

The index tests in test_index.py run against the server too (the `index` fixture);
here, whole Hearths: recall, forgetting, start-up sync, and two Hearths sharing a server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hearth.engines.embed import MiniLMEmbedder
from hearth.memory import ids as memory_ids
from hearth.memory.index import MemoryIndex, Stamp
from hearth.memory.service import database_generation
from tests.memory import test_recall, test_service
from tests.memory.conftest import fresh_database
from tests.memory.test_index import item
from tests.utils.conversations import DAY, history, window_text
from tests.utils.live import BackendServer, chroma_server, free_port


@pytest.fixture()
def start_on_server(start_services: Any, chroma: BackendServer) -> Any:
    """`start_services` with the index in one database (this test's) on the Chroma server."""
    database = fresh_database()

    def start(data_dir: Path | None = None, memory: dict[str, Any] | None = None,
              **llm: Any) -> Any:
        where = {"chroma_url": chroma.url, "chroma_database": database}
        return start_services(data_dir, {**where, **(memory or {})}, **llm)

    return start


def test_a_fact_from_long_ago_is_recalled_from_the_server(start_on_server: Any) -> None:
    test_recall.test_a_fact_stated_200_turns_ago_is_recalled(start_on_server)


def test_one_users_memories_never_reach_another_on_the_server(start_on_server: Any) -> None:
    test_recall.test_user_b_memories_never_reach_user_a(start_on_server)


def test_deleted_things_leave_the_servers_index(start_on_server: Any) -> None:
    test_service.test_deleted_conversations_and_characters_leave_the_index(start_on_server)


def test_sync_and_forget_a_user_on_the_server(
    start_on_server: Any, start_services: Any, chroma: BackendServer, tmp_path: Path
) -> None:
    data = tmp_path / "hearth"
    services = start_on_server(data)
    alice, bob = services.user, services.store.people.ensure("Bob")
    conversations = {}
    for user, line in ((alice, "My cat Miso hates the vacuum cleaner."),
                       (bob, "My dog Pip loves the beach.")):
        conversations[user.id] = conversation = services.chat.start_conversation(user, 1)
        services.chat.import_messages(user, conversation.id, history(10, time.time() - DAY,
                                                                     {0: line}))
    memory = services.memory
    fact = memory.add_fact(user_id=alice.id, character_id=1, text="Alice's cat is called Miso.",
                           source_message_ids=[], said_at=time.time())
    assert memory.reindex() == len(services.store.messages.ids())
    # The stamp lives on the server, beside the index it describes; nothing on local disk.
    assert memory.index.stamp() == Stamp(database_generation(services.store),
                                         embedder=memory.embedder.name)
    assert not (data / "memory").exists()
    count = memory.index.count()
    services.close()

    again = start_on_server(data)
    assert again.memory.index.count() == count
    assert again.memory.sync() == 0  # built from this data and complete: nothing to redo
    again.people.remove(bob.id)
    assert not any(name.startswith(f"u{bob.id}_") for name in again.memory.index._names())
    window = again.chat.window(alice, conversations[alice.id].id, "What does my cat hate?")
    assert "vacuum" in window_text(window)
    left = again.memory.index.indexed_ids()
    again.close()

    # A new (or wiped) database has no stamp: it is rebuilt from SQLite, facts included.
    moved = start_services(data, {"chroma_url": chroma.url, "chroma_database": fresh_database()})
    assert moved.memory.index.stamp() == Stamp(complete=False)
    assert moved.memory.sync() == len(moved.store.messages.ids())
    assert moved.memory.index.indexed_ids() == left
    assert fact is not None and memory_ids.fact(fact.id) in left


def test_two_hearths_share_one_server_in_separate_databases(
    chroma: BackendServer, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    first, second = (MemoryIndex(tmp_path / n, embedder, url=chroma.url, database=fresh_database())
                     for n in ("a", "b"))
    first.add([item("m1", text="Our house has a red door.")])
    second.add([item("m1", text="Our boat is called Wren.")])
    first.set_stamp(Stamp("first"))
    query = embedder.embed(["what is the boat called?"])[0]
    assert [h.item.text for h in second.query(query, user_id=1, character_id=1, k=5)] == [
        "Our boat is called Wren."]
    assert [h.item.text for h in first.query(query, user_id=1, character_id=1, k=5)] == [
        "Our house has a red door."]
    assert second.stamp() == Stamp(complete=False)  # never built: rebuilt at start-up
    second.reset()
    assert (first.count(), second.count()) == (1, 0)


def test_an_unreachable_server_says_what_to_do(embedder: MiniLMEmbedder, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot be reached.*chroma run.*memory.chroma_url"):
        MemoryIndex(tmp_path, embedder, url=f"http://127.0.0.1:{free_port()}")


def test_a_turn_goes_on_without_recall_while_the_server_is_down(
    start_services: Any, tmp_path: Path
) -> None:
    with chroma_server(tmp_path / "chroma", tmp_path / "chroma.log") as own:
        services = start_services(memory={"chroma_url": own.url})
        user = services.user
        conversation = services.chat.start_conversation(user, 1)
        services.chat.import_messages(user, conversation.id, history(
            200, time.time() - DAY, {0: "My cat Miso hates the vacuum cleaner."}))
        up = services.chat.window(user, conversation.id, "What does my cat hate?")
        assert "vacuum" in " ".join(m.text for m in up.memories)
    down = services.chat.window(user, conversation.id, "What does my cat hate?")
    assert not down.memories  # nothing recalled, but a window: the turn is still answered
    assert "vacuum" not in window_text(down)
    assert len(services.store.messages.list(conversation.id)) == 201
