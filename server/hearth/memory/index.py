"""The memory index: Chroma, embedded and on disk or a Chroma server, and nothing else
imports it.

SQLite stays the source of truth; this index is derived from it and can be
rebuilt (`reset()` then `add()`). Every item carries its owner in metadata and
every query filters on it, so one user's memories never reach another.

We always pass embeddings ourselves: Chroma's default embedding function would
download a model, so collections are opened with `embedding_function=None`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from hearth.engines.embed import Embedder

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)

KINDS = ("message", "summary", "fact")
_PAGE = 5000  # ids per page when listing the collection
_STAMP_COLLECTION = "hearth_stamp"  # on a Chroma server: what the index was built from
LEGACY_EMBEDDER = "all-MiniLM-L6-v2"  # what built indexes whose stamp does not say


@dataclass(frozen=True)
class MemoryItem:
    id: str  # e.g. "m123" (message 123), "s4" (summary), "f9" (fact)
    text: str
    user_id: int
    character_id: int
    kind: str  # "message" | "summary" | "fact"
    ts: float  # epoch seconds: when the thing was said, not when it was indexed
    conversation_id: int | None = None
    message_ids: tuple[int, ...] = ()
    role: str | None = None  # "user" | "assistant" for messages
    importance: float = 0.0


@dataclass(frozen=True)
class Stamp:
    """What the index was built from: the database's restore generation, whether that
    build finished, and which embedder made its vectors (a different one's are
    meaningless beside them, even of the same size). An index made before stamps
    existed reads as `Stamp()`, made by the only embedder there was then."""

    generation: str = ""
    complete: bool = True
    embedder: str = LEGACY_EMBEDDER


@dataclass(frozen=True)
class Hit:
    item: MemoryItem
    similarity: float  # cosine similarity, higher is closer


def _metadata(item: MemoryItem) -> dict[str, str | int | float]:
    # Chroma metadata values are scalars and cannot be None: optional fields are left out.
    meta: dict[str, str | int | float] = {
        "user_id": int(item.user_id),
        "character_id": int(item.character_id),
        "kind": item.kind,
        "ts": float(item.ts),
        "importance": float(item.importance),
    }
    if item.conversation_id is not None:
        meta["conversation_id"] = int(item.conversation_id)
    if item.message_ids:
        meta["message_ids"] = ",".join(str(int(i)) for i in item.message_ids)
    if item.role is not None:
        meta["role"] = item.role
    return meta


def _item(id: str, text: str | None, meta: dict[str, Any]) -> MemoryItem:
    message_ids = meta.get("message_ids") or ""
    conversation_id = meta.get("conversation_id")
    return MemoryItem(
        id=id,
        text=text or "",
        user_id=int(meta["user_id"]),
        character_id=int(meta["character_id"]),
        kind=str(meta["kind"]),
        ts=float(meta["ts"]),
        conversation_id=None if conversation_id is None else int(conversation_id),
        message_ids=tuple(int(i) for i in str(message_ids).split(",") if i),
        role=meta.get("role"),
        importance=float(meta.get("importance", 0.0)),
    )


def namespace_of(embedder: str) -> str:
    """The prefix of an embedder's collections: each embedder's vectors live apart, so a
    new embedder's index can be built beside the one in use. MiniLM's have none (indexes
    made before there was a choice)."""
    return "" if embedder == LEGACY_EMBEDDER else f"{embedder}."


def _matches(item: MemoryItem, kinds: Sequence[str] | None, since: float | None,
             until: float | None) -> bool:
    return ((kinds is None or item.kind in kinds)
            and (since is None or item.ts >= since) and (until is None or item.ts <= until))


class MemoryIndex:
    """Memories in Chroma, persisted under `path`: one collection per user and character.

    Separate collections make isolation structural (a query cannot reach another
    person's memories) and keep queries fast: Chroma's `where` filters cost time
    in proportion to the whole collection (~100 ms at 20,000 items), while an
    unfiltered HNSW query takes a few ms. Kind and time filters are applied to an
    over-fetched candidate list instead.
    """

    OVERFETCH = 8  # candidates per wanted hit when kind or time filters apply

    def __init__(self, path: Path, embedder: Embedder, *, url: str = "",
                 database: str = "hearth") -> None:
        """Embedded under `path`; or, with `url` (e.g. "http://nas:8001"), in `database`
        on that Chroma server, created on first use. The collections are the embedder's
        (`namespace_of`); the stamp is shared by all."""
        try:
            import chromadb
            from chromadb.config import Settings
        except ImportError as e:  # pragma: no cover - install problem
            raise RuntimeError(
                "chromadb is not installed: run `make run` or `pip install chromadb`"
            ) from e
        self.path = Path(path)
        self.url = url
        self.embedder = embedder
        self.namespace = namespace_of(embedder.name)
        settings = Settings(anonymized_telemetry=False, allow_reset=True)
        if url:
            self._client: ClientAPI = _server_client(url, database, settings)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        self._max_batch = self._client.get_max_batch_size()
        self._collections: dict[str, Collection] = {}
        self._sizes: dict[str, int] = {}  # count() costs ~10 ms at 100k: kept up to date here

    def beside(self, embedder: Embedder) -> MemoryIndex:
        """Another embedder's index in the same store, sharing this one's client (Chroma
        allows one per path in a process): built while this one serves, then swapped in."""
        other = copy.copy(self)
        other.embedder, other.namespace = embedder, namespace_of(embedder.name)
        other._collections, other._sizes = {}, {}
        return other

    def _collection_name(self, user_id: int, character_id: int) -> str:
        return f"{self.namespace}u{int(user_id)}_c{int(character_id)}"

    def close(self) -> None:
        """Release the on-disk store (Chroma shares one system per path in a process)."""
        self._collections.clear()
        self._sizes.clear()
        self._client.close()

    def _open(self, name: str, *, create: bool) -> Collection | None:
        if name not in self._collections:
            from chromadb.errors import NotFoundError

            try:
                # The 1.x spelling of the legacy `metadata={"hnsw:space": "cosine"}`; it
                # only applies when the collection is created, fixed for its lifetime.
                self._collections[name] = (
                    self._client.get_or_create_collection(
                        name, configuration={"hnsw": {"space": "cosine"}},
                        embedding_function=None)
                    if create else self._client.get_collection(name, embedding_function=None)
                )
            except NotFoundError:
                return None
            self._sizes[name] = self._count(self._collections[name])
        return self._collections[name]

    @staticmethod
    def _count(collection: Collection) -> int:
        """The collection's size. A Chroma server can answer "Missing metadata segment"
        for a collection created a moment ago (seen once, on a loaded machine): that is
        asked again, briefly."""
        from chromadb.errors import ChromaError

        for wait in (0.1, 0.3, 1.0):
            try:
                return collection.count()
            except ChromaError as e:
                if "segment" not in str(e).lower():
                    raise
                log.warning("the memory index server is not ready with %s (%s); asking again",
                            collection.name, e)
                time.sleep(wait)
        return collection.count()

    def _all(self) -> list[Collection]:
        return [c for name in self._names() if (c := self._open(name, create=False)) is not None]

    def _names(self, *, others: bool = False) -> list[str]:
        """This embedder's collections (`others`: every other embedder's)."""
        ours = re.compile(re.escape(self.namespace) + r"u\d+_c\d+")
        return [c.name for c in self._client.list_collections()
                if c.name != _STAMP_COLLECTION and bool(ours.fullmatch(c.name)) != others]

    def add(self, items: Sequence[MemoryItem], embeddings: np.ndarray | None = None) -> None:
        """Insert or replace items by id. Texts are embedded here unless `embeddings` is given."""
        if not items:
            return
        if embeddings is None:
            embeddings = self._embed_unique([item.text for item in items])
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.shape != (len(items), self.embedder.dim):
            raise ValueError(
                f"expected embeddings of shape ({len(items)}, {self.embedder.dim}), "
                f"got {embeddings.shape}"
            )
        # Chroma refuses duplicate ids in one write; the last version of an item wins.
        last = {item.id: i for i, item in enumerate(items)}
        owners: dict[str, list[int]] = {}
        for i in sorted(last.values()):
            name = self._collection_name(items[i].user_id, items[i].character_id)
            owners.setdefault(name, []).append(i)
        for name, rows in owners.items():
            collection = self._open(name, create=True)
            assert collection is not None
            for start in range(0, len(rows), self._max_batch):
                chunk = rows[start : start + self._max_batch]
                collection.upsert(
                    ids=[items[i].id for i in chunk],
                    embeddings=embeddings[chunk],
                    documents=[items[i].text for i in chunk],
                    metadatas=[_metadata(items[i]) for i in chunk],
                )
            self._sizes[name] = collection.count()
        log.debug("indexed %d memories", len(last))

    def _embed_unique(self, texts: list[str]) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        vectors = self.embedder.embed(unique)
        if len(unique) == len(texts):
            return vectors
        row = {text: i for i, text in enumerate(unique)}
        return vectors[[row[text] for text in texts]]

    def query(
        self,
        embedding: np.ndarray,
        *,
        user_id: int,
        character_id: int,
        k: int,
        kinds: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[Hit]:
        """The `k` memories of this user with this character closest to `embedding`, best first."""
        if k <= 0 or (kinds is not None and not kinds):
            return []
        vector = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != self.embedder.dim:
            raise ValueError(f"expected a {self.embedder.dim}-d query, got {vector.shape[1]}")
        collection = self._open(self._collection_name(user_id, character_id), create=False)
        if collection is None:
            return []
        filtered = kinds is not None or since is not None or until is not None
        size = self._sizes[collection.name]
        if size == 0:
            return []
        result = collection.query(
            query_embeddings=vector,
            n_results=min(size, k * self.OVERFETCH if filtered else k),
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        documents = (result["documents"] or [[]])[0]
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        hits = [
            Hit(_item(id, doc, dict(meta or {})), 1.0 - float(dist))
            for id, doc, meta, dist in zip(ids, documents, metadatas, distances, strict=True)
        ]
        hits = [h for h in hits if _matches(h.item, kinds, since, until)]
        hits.sort(key=lambda h: h.similarity, reverse=True)
        return hits[:k]

    def nearest(
        self, embedding: np.ndarray, *, user_id: int, character_id: int, k: int
    ) -> list[tuple[str, float]]:
        """Ids and similarities of the `k` nearest memories, best first.

        Without documents and metadata: fetching those costs more than the search
        itself, and SQLite, the record, has them.
        """
        collection = self._open(self._collection_name(user_id, character_id), create=False)
        size = self._sizes.get(collection.name, 0) if collection is not None else 0
        if collection is None or size == 0 or k <= 0:
            return []
        vector = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        result = collection.query(query_embeddings=vector, n_results=min(size, k),
                                  include=["distances"])
        distances = (result["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], distances, strict=True)]

    def get(self, ids: Sequence[str]) -> list[MemoryItem]:
        """The stored items among `ids` (missing ids are skipped), in no particular order."""
        if not ids:
            return []
        found = []
        for collection in self._all():
            result = collection.get(ids=list(ids), include=["documents", "metadatas"])
            documents = result["documents"] or [None] * len(result["ids"])
            metadatas = result["metadatas"] or [{}] * len(result["ids"])
            found += [
                _item(id, doc, dict(meta or {}))
                for id, doc, meta in zip(result["ids"], documents, metadatas, strict=True)
            ]
        return found

    def delete(self, ids: Sequence[str]) -> None:
        # Chroma raises on an empty id list rather than deleting nothing.
        ids = list(dict.fromkeys(ids))
        for collection in self._all():
            for start in range(0, len(ids), self._max_batch):
                collection.delete(ids=ids[start : start + self._max_batch])
            self._sizes[collection.name] = collection.count()

    def drop_character(self, character_id: int) -> None:
        """Forget every memory held with this character, for every user."""
        self._drop(lambda name: name.endswith(f"_c{int(character_id)}"))

    def drop_user(self, user_id: int) -> None:
        """Forget every memory of this user, with every character."""
        self._drop(lambda name: name.startswith(f"{self.namespace}u{int(user_id)}_"))

    def _drop(self, chosen: Callable[[str], bool]) -> None:
        for name in self._names():
            if chosen(name):
                self._client.delete_collection(name)
                self._collections.pop(name, None)
                self._sizes.pop(name, None)

    def count(self) -> int:
        return sum(self._sizes[c.name] for c in self._all())

    def indexed_ids(self, kind: str | None = None) -> set[str]:
        """Every id in the index, of one `kind` if given: to find what SQLite has and we lack."""
        where = None if kind is None else {"kind": kind}
        found: set[str] = set()
        for collection in self._all():
            offset = 0
            while True:
                page = collection.get(where=where, include=[], limit=_PAGE, offset=offset)
                found.update(page["ids"])
                if len(page["ids"]) < _PAGE:
                    break
                offset += _PAGE
        return found

    def reset(self) -> None:
        """Drop every memory (before a full reindex)."""
        for name in self._names():
            self._client.delete_collection(name)
        self._collections.clear()
        self._sizes.clear()
        log.info("memory index at %s reset", self.url or self.path)

    def drop_others(self) -> None:
        """Drop every other embedder's collections (after a switch to this one)."""
        for name in self._names(others=True):
            self._client.delete_collection(name)
            log.info("dropped %s, left by another embedder", name)

    # -- what the index was built from -------------------------------------------

    STAMP_FILE = "hearth-stamp.json"  # beside Chroma's own files

    def stamp(self) -> Stamp:
        if self.url:  # on a server, the stamp lives with the index it describes
            meta = self._client.get_or_create_collection(
                _STAMP_COLLECTION, embedding_function=None).metadata or {}
            if "generation" not in meta:  # never built here, or wiped: rebuild from SQLite
                return Stamp(complete=False)
            return Stamp(str(meta["generation"]), bool(meta.get("complete", False)),
                         str(meta.get("embedder", LEGACY_EMBEDDER)))
        try:
            return Stamp(**json.loads((self.path / self.STAMP_FILE).read_text()))
        except FileNotFoundError:
            return Stamp()
        except (ValueError, TypeError):
            return Stamp(complete=False)  # unreadable: rebuild to be sure

    def set_stamp(self, stamp: Stamp) -> None:
        """Record what the index holds (written whole, then renamed into place)."""
        if self.url:
            self._client.get_or_create_collection(
                _STAMP_COLLECTION, embedding_function=None
            ).modify(metadata={"generation": stamp.generation, "complete": stamp.complete,
                               "embedder": stamp.embedder})
            return
        path = self.path / self.STAMP_FILE
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(stamp)))
        os.replace(partial, path)


def _server_client(url: str, database: str, settings: Any) -> ClientAPI:
    """A client for `database` on the Chroma server at `url`, creating the database if new."""
    import chromadb
    from chromadb.errors import NotFoundError

    parts = urlsplit(url)
    host, ssl = parts.hostname or "localhost", parts.scheme == "https"
    port = parts.port or (443 if ssl else 8000)
    try:
        admin = chromadb.AdminClient(settings.model_copy(update={
            "chroma_api_impl": "chromadb.api.fastapi.FastAPI", "chroma_server_host": host,
            "chroma_server_http_port": port, "chroma_server_ssl_enabled": ssl}))
        try:
            admin.get_database(database)
        except NotFoundError:
            admin.create_database(database)
            log.info("created database %s on the Chroma server at %s", database, url)
        return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings,
                                   database=database)
    except Exception as e:  # noqa: BLE001 - any failure here means no usable server
        raise RuntimeError(f"the Chroma server at {url} cannot be reached ({e}): start it "
                           "(`chroma run --path DIR --port PORT`) or fix memory.chroma_url") from e
