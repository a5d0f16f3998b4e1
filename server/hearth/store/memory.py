"""What memory keeps beside the messages: facts, summaries, and how prompts were packed.

Notes and windows let later turns render the same prompt prefix (and llama.cpp
reuse its cache); see hearth.context.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence

from hearth.errors import NotFound
from hearth.store.db import Repository
from hearth.store.records import Fact, Note, StoredWindow, Summary


def fact_of(row: sqlite3.Row) -> Fact:
    return Fact(**{**dict(row), "source_message_ids": json.loads(row["source_message_ids"])})


class Facts(Repository):
    def add(
        self, *, user_id: int, character_id: int, text: str, source_message_ids: Sequence[int],
        said_at: float,
    ) -> Fact:
        now = time.time()
        with self.db.tx() as db:
            cur = db.execute(
                "INSERT INTO facts (user_id, character_id, text, source_message_ids, said_at, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_id, character_id, text, json.dumps(list(source_message_ids)), said_at, now,
                 now),
            )
        return self.get(cur.lastrowid, user_id=user_id)  # type: ignore[arg-type]

    def get(self, fact_id: int, *, user_id: int) -> Fact:
        row = self.db.one("SELECT * FROM facts WHERE id = ? AND user_id = ?", fact_id, user_id)
        if row is None:
            raise NotFound(f"no fact with id {fact_id}; list them at /api/facts")
        return fact_of(row)

    def by_ids(self, ids: Sequence[int]) -> list[Fact]:
        """The facts with these ids that still exist, whoever they belong to."""
        marks = ",".join("?" * len(ids))
        return [fact_of(r) for r in self.db.all(f"SELECT * FROM facts WHERE id IN ({marks})", *ids)]

    def list(self, *, user_id: int, character_id: int | None = None) -> list[Fact]:
        if character_id is None:
            rows = self.db.all(
                "SELECT * FROM facts WHERE user_id = ? ORDER BY said_at, id", user_id)
        else:
            rows = self.db.all(
                "SELECT * FROM facts WHERE user_id = ? AND character_id = ? ORDER BY said_at, id",
                user_id, character_id,
            )
        return [fact_of(r) for r in rows]

    def from_message(self, message_id: int) -> list[Fact]:
        """The facts that name this message among their sources."""
        rows = self.db.all(
            "SELECT * FROM facts WHERE EXISTS (SELECT 1 FROM json_each(source_message_ids) "
            "WHERE value = ?) ORDER BY id", message_id)
        return [fact_of(r) for r in rows]

    def set_sources(self, fact_id: int, *, user_id: int,
                    source_message_ids: Sequence[int]) -> Fact:
        with self.db.tx() as db:
            db.execute(
                "UPDATE facts SET source_message_ids = ?, updated_at = ? "
                "WHERE id = ? AND user_id = ?",
                (json.dumps(list(source_message_ids)), time.time(), fact_id, user_id))
        return self.get(fact_id, user_id=user_id)

    def update(self, fact_id: int, *, user_id: int, text: str) -> Fact:
        with self.db.tx() as db:
            db.execute("UPDATE facts SET text = ?, updated_at = ? WHERE id = ? AND user_id = ?",
                       (text, time.time(), fact_id, user_id))
        return self.get(fact_id, user_id=user_id)

    def delete(self, fact_id: int, *, user_id: int) -> None:
        self.get(fact_id, user_id=user_id)
        with self.db.tx() as db:
            db.execute("DELETE FROM facts WHERE id = ?", (fact_id,))


class Summaries(Repository):
    def find(self, conversation_id: int) -> Summary | None:
        row = self.db.one("SELECT * FROM summaries WHERE conversation_id = ?", conversation_id)
        return Summary(row["text"], row["upto_message_id"], row["updated_at"]) if row else None

    def set(self, conversation_id: int, *, text: str, upto_message_id: int) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO summaries (conversation_id, text, upto_message_id, "
                "updated_at) VALUES (?, ?, ?, ?)",
                (conversation_id, text, upto_message_id, time.time()),
            )

    def delete(self, conversation_id: int) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM summaries WHERE conversation_id = ?", (conversation_id,))

    def conversation_ids(self) -> list[int]:
        """The conversations that have a summary."""
        return [r[0] for r in self.db.all("SELECT conversation_id FROM summaries")]


class Notes(Repository):
    def in_conversation(self, conversation_id: int) -> dict[int, Note]:
        """Each noted message of the conversation (by id), with its note."""
        rows = self.db.all(
            "SELECT n.* FROM notes n JOIN messages m ON m.id = n.message_id "
            "WHERE m.conversation_id = ?", conversation_id,
        )
        return {r["message_id"]: Note(r["text"], json.loads(r["sources"])) for r in rows}

    def set(self, message_id: int, *, text: str, sources: Sequence[str]) -> None:
        with self.db.tx() as db:
            db.execute("INSERT OR REPLACE INTO notes (message_id, text, sources) VALUES (?, ?, ?)",
                       (message_id, text, json.dumps(list(sources))))


class Windows(Repository):
    def find(self, conversation_id: int) -> StoredWindow | None:
        row = self.db.one("SELECT * FROM windows WHERE conversation_id = ?", conversation_id)
        if row is None:
            return None
        return StoredWindow(row["start_message_id"], row["profile"], row["summary"])

    def set(
        self, conversation_id: int, *, start_message_id: int, profile: str, summary: str
    ) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO windows (conversation_id, start_message_id, profile, "
                "summary) VALUES (?, ?, ?, ?)",
                (conversation_id, start_message_id, profile, summary),
            )

    def delete(self, conversation_id: int) -> None:
        """Forget how the window was packed: the next turn packs it afresh."""
        with self.db.tx() as db:
            db.execute("DELETE FROM windows WHERE conversation_id = ?", (conversation_id,))
