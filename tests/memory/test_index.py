"""The Chroma memory index on disk: owner filters always applied, metadata kept, rebuildable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hearth.engines.embed import MiniLMEmbedder
from hearth.memory import ids as memory_ids
from hearth.memory import index as index_module
from hearth.memory.index import MemoryIndex, MemoryItem

DIM = 384


def unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near(v: np.ndarray, seed: int, noise: float) -> np.ndarray:
    """A unit vector close to `v` (closer for smaller `noise`)."""
    w = v + noise * unit(seed)[0]
    return (w / np.linalg.norm(w)).astype(np.float32)


def item(id: str, *, user_id: int = 1, character_id: int = 1, kind: str = "message",
         ts: float = 1_700_000_000.0, text: str | None = None, **extra: Any) -> MemoryItem:
    return MemoryItem(id=id, text=text or f"memory {id}", user_id=user_id,
                      character_id=character_id, kind=kind, ts=ts, **extra)


def test_the_closest_memory_comes_first(index: MemoryIndex, embedder: MiniLMEmbedder) -> None:
    texts = {
        "m1": "My cat is called Miso and she hates the vacuum cleaner.",
        "m2": "I work as a nurse on night shifts at the city hospital.",
        "m3": "My sister Anna is getting married in June.",
        "f1": "The user is learning Korean.",
        "s1": "We talked about a weekend trip to Lisbon and pastries.",
    }
    index.add([item(i, text=t) for i, t in texts.items()])
    assert index.count() == 5

    hits = index.query(embedder.embed(["what's the name of my cat?"])[0], user_id=1, character_id=1, k=3)
    assert [h.item.id for h in hits][:1] == ["m1"]
    assert len(hits) == 3
    assert hits[0].item.text == texts["m1"]
    sims = [h.similarity for h in hits]
    assert sims == sorted(sims, reverse=True)
    assert 0.0 < sims[0] <= 1.0 + 1e-6

    hits = index.query(embedder.embed(["When is Anna's wedding?"])[0], user_id=1, character_id=1, k=1)
    assert [h.item.id for h in hits] == ["m3"]


def test_another_users_memories_never_come_back(index: MemoryIndex) -> None:
    query = unit(0)[0]
    theirs = [item(memory_ids.message(i), user_id=2, text="theirs") for i in range(20)]
    mine = [item(memory_ids.message(100 + i), user_id=1, text="mine") for i in range(5)]
    # User 2's memories are all closer to the query than any of user 1's.
    their_vectors = np.stack([near(query, 10 + i, 0.05) for i in range(20)])
    my_vectors = np.stack([near(query, 50 + i, 2.0) for i in range(5)])
    index.add(theirs + mine, np.vstack([their_vectors, my_vectors]))

    hits = index.query(query, user_id=1, character_id=1, k=50)
    assert {h.item.id for h in hits} == {m.id for m in mine}
    assert all(h.item.user_id == 1 for h in hits)
    assert index.query(query, user_id=3, character_id=1, k=10) == []
    assert len(index.query(query, user_id=2, character_id=1, k=5)) == 5


def test_kind_character_and_time_filters(index: MemoryIndex) -> None:
    query = unit(0)[0]
    items = [
        item("m1", kind="message", character_id=1, ts=100.0),
        item("m2", kind="message", character_id=2, ts=200.0),
        item("s1", kind="summary", character_id=1, ts=300.0),
        item("f1", kind="fact", character_id=2, ts=400.0),
    ]
    index.add(items, np.stack([near(query, i, 0.5) for i in range(len(items))]))

    def ids(character_id: int = 1, **filters: Any) -> set[str]:
        return {h.item.id for h in index.query(query, user_id=1, character_id=character_id,
                                                k=10, **filters)}

    assert ids() == {"m1", "s1"}  # one collection per user and character
    assert ids(character_id=2) == {"m2", "f1"}
    assert ids(kinds=["message"]) == {"m1"}
    assert ids(kinds=["summary", "fact"]) == {"s1"}
    assert ids(kinds=[]) == set()
    assert ids(character_id=2, since=200) == {"m2", "f1"}  # bounds are inclusive
    assert ids(character_id=2, until=200.0) == {"m2"}
    assert ids(since=150.0, until=350.0) == {"s1"}
    assert ids(kinds=["message", "summary"], since=150.0) == {"s1"}


def test_metadata_round_trips(index: MemoryIndex) -> None:
    full = item("s7", kind="summary", ts=1_712_345_678.25, conversation_id=12,
                message_ids=(3, 4, 5, 1000), role="assistant", importance=0.75,
                text="A summary, with commas, and ünïcode.")
    bare = item("f2", kind="fact", ts=5)  # an int ts still comes back as a float
    vectors = unit(1, 2)
    index.add([full, bare], vectors)

    (hit,) = index.query(vectors[0], user_id=1, character_id=1, k=1)
    assert hit.item == full
    assert hit.similarity == pytest.approx(1.0, abs=1e-4)
    (hit,) = index.query(vectors[1], user_id=1, character_id=1, k=1, kinds=["fact"])
    assert hit.item == replace(bare, ts=5.0)
    assert isinstance(hit.item.ts, float)
    assert hit.item.message_ids == () and hit.item.role is None
    assert hit.item.conversation_id is None
    assert sorted(index.get(["s7", "f2", "nope"]), key=lambda m: m.id) == [hit.item, full]


def test_upsert_is_idempotent_and_replaces(index: MemoryIndex) -> None:
    items = [item(memory_ids.message(i)) for i in range(10)]
    vectors = unit(2, 10)
    index.add(items, vectors)
    index.add(items, vectors)
    assert index.count() == 10

    edited = replace(items[3], text="edited", importance=1.0)
    index.add([edited], vectors[3:4])
    assert index.count() == 10
    (hit,) = index.query(vectors[3], user_id=1, character_id=1, k=1)
    assert hit.item == edited

    # The same id twice in one call: the last one wins.
    index.add([item("m3", text="first"), item("m3", text="second")], unit(3, 2))
    assert index.count() == 10
    assert [m.text for m in index.get(["m3"])] == ["second"]


def test_texts_are_embedded_once(index: MemoryIndex, embedder: MiniLMEmbedder) -> None:
    calls: list[list[str]] = []

    class Counting:
        dim = embedder.dim

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            calls.append(list(texts))
            return embedder.embed(texts)

    index.embedder = Counting()
    index.add([item("m1", text="hello"), item("m2", text="hello"), item("m3", text="bye")])
    assert calls == [["hello", "bye"]]
    (hit,) = index.query(embedder.embed(["hello"])[0], user_id=1, character_id=1, k=1, kinds=["message"])
    assert hit.similarity == pytest.approx(1.0, abs=1e-4)
    assert index.count() == 3


def test_bad_shapes_are_refused(index: MemoryIndex) -> None:
    with pytest.raises(ValueError, match="shape"):
        index.add([item("m1"), item("m2")], unit(0, 1))
    with pytest.raises(ValueError):
        index.add([item("m1")], np.ones((1, 16), dtype=np.float32))
    with pytest.raises(ValueError):
        index.query(np.ones(16, dtype=np.float32), user_id=1, character_id=1, k=1)
    assert index.count() == 0


def test_empty_index_small_k_and_no_items(index: MemoryIndex) -> None:
    query = unit(0)[0]
    assert index.query(query, user_id=1, character_id=1, k=5) == []
    index.add([])
    index.add([item("m1"), item("m2")], unit(1, 2))
    assert len(index.query(query, user_id=1, character_id=1, k=50)) == 2
    assert len(index.query(query.reshape(1, -1), user_id=1, character_id=1, k=1)) == 1
    assert index.query(query, user_id=1, character_id=1, k=0) == []


def test_delete(index: MemoryIndex) -> None:
    vectors = unit(4, 5)
    index.add([item(memory_ids.message(i)) for i in range(5)], vectors)
    index.delete(["m1", "m3", "m3", "unknown"])
    index.delete([])
    assert index.count() == 3
    assert index.indexed_ids() == {"m0", "m2", "m4"}
    assert [h.item.id for h in index.query(vectors[1], user_id=1, character_id=1, k=5)] != []
    assert "m1" not in {h.item.id for h in index.query(vectors[1], user_id=1, character_id=1, k=5)}


def test_persists_across_instances(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    path = tmp_path / "chroma"
    vectors = unit(5, 3)
    first = MemoryIndex(path, embedder)
    first.add([item("m1"), item("s1", kind="summary"), item("f1", kind="fact")], vectors)
    del first

    second = MemoryIndex(path, embedder)
    assert second.count() == 3
    (hit,) = second.query(vectors[1], user_id=1, character_id=1, k=1)
    assert hit.item.id == "s1" and hit.item.kind == "summary"


def test_indexed_ids_by_kind(index: MemoryIndex) -> None:
    items = [item("m1"), item("m2"), item("s1", kind="summary"), item("f1", kind="fact")]
    index.add(items, unit(6, 4))
    assert index.indexed_ids() == {"m1", "m2", "s1", "f1"}
    assert index.indexed_ids("message") == {"m1", "m2"}
    assert index.indexed_ids("summary") == {"s1"}
    assert index.indexed_ids("nothing") == set()


def test_reset_drops_everything(index: MemoryIndex) -> None:
    index.add([item("m1"), item("m2")], unit(7, 2))
    index.reset()
    assert index.count() == 0
    assert index.indexed_ids() == set()
    vector = unit(8)
    index.add([item("m9")], vector)
    assert [h.item.id for h in index.query(vector[0], user_id=1, character_id=1, k=5)] == ["m9"]
    # Still a cosine index after being recreated.
    assert index.query(vector[0], user_id=1, character_id=1, k=1)[0].similarity == pytest.approx(1.0, abs=1e-4)


def test_two_thousand_items_in_one_call(
    index: MemoryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 2000
    vectors = unit(9, n)
    items = [item(memory_ids.message(i), user_id=1 + i % 2, ts=float(i)) for i in range(n)]
    index.add(items, vectors)  # one write: below Chroma's own limit
    assert index.count() == n

    index.reset()
    monkeypatch.setattr(index, "_max_batch", 700)  # force several uneven writes
    monkeypatch.setattr(index_module, "_PAGE", 300)  # and several pages when listing
    index.add(items, vectors)
    assert index.count() == n
    assert index.indexed_ids() == {m.id for m in items}
    assert len(index.indexed_ids("message")) == n

    hits = index.query(vectors[1234], user_id=1, character_id=1, k=10)
    assert hits[0].item.id == "m1234"
    assert all(h.item.user_id == 1 for h in hits)
    assert len(hits) == 10
