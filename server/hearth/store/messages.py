"""Messages: what was said, its alternatives (swipes), and the lexical index over it.

`messages_fts` has no foreign key, so every write of a message's text goes
through `index_text`, and every delete of messages through `forget_text`, inside
the transaction that changes the messages.
"""

from __future__ import annotations

import builtins  # the `list` methods below hide the type in later annotations
import json
import math
import sqlite3
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

from hearth.errors import NotFound
from hearth.store.db import Repository
from hearth.store.records import Message, OwnedMessage

_TERM_HITS = 5000  # messages read per search term; a term this common says little


def index_text(db: sqlite3.Connection, message_id: int, content: str) -> None:
    """Make `content` the searchable text of a message (new or changed)."""
    db.execute("DELETE FROM messages_fts WHERE rowid = ?", (message_id,))
    db.execute("DELETE FROM messages_grams WHERE rowid = ?", (message_id,))
    _add_text(db, message_id, content)


def _add_text(db: sqlite3.Connection, message_id: int, content: str) -> None:
    db.execute("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)", (message_id, content))
    db.execute("INSERT INTO messages_grams (rowid, content) VALUES (?, ?)",
               (message_id, unicodedata.normalize("NFC", content)))


def forget_text(db: sqlite3.Connection, where: str, *args: Any) -> list[int]:
    """Drop the searchable text of the messages about to be deleted; returns their ids.

    `where` selects them over `messages m JOIN conversations c`, e.g. "c.user_id = ?".
    """
    ids = [r[0] for r in db.execute(
        "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        f"WHERE {where}", args)]
    db.executemany("DELETE FROM messages_fts WHERE rowid = ?", [(i,) for i in ids])
    db.executemany("DELETE FROM messages_grams WHERE rowid = ?", [(i,) for i in ids])
    return ids


def message_of(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        swipes=json.loads(row["swipes"]),
        swipe_index=row["swipe_index"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        reason=json.loads(row["reason"]) if row["reason"] else None,
    )


class Messages(Repository):
    def add(
        self,
        *,
        conversation_id: int,
        role: str,
        content: str,
        status: str = "complete",
        created_at: float | None = None,
        reason: dict[str, Any] | None = None,
    ) -> Message:
        """Append a message; `reason` marks one the character started on its own."""
        now = time.time()
        with self.db.tx() as db:
            message_id = _insert(db, conversation_id, role, content, status, created_at or now, now)
            if reason is not None:
                db.execute("UPDATE messages SET reason = ? WHERE id = ?",
                           (json.dumps(reason, ensure_ascii=False), message_id))
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return self._get(message_id)

    def add_many(
        self, *, conversation_id: int, items: Sequence[tuple[str, str, float]]
    ) -> list[int]:
        """Append (role, content, created_at) items in one transaction: all or nothing."""
        now = time.time()
        with self.db.tx() as db:
            ids = [
                _insert(db, conversation_id, role, content, "complete", at, now)
                for role, content, at in items
            ]
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return ids

    def add_swipe(self, message_id: int, *, content: str, status: str = "complete") -> Message:
        """Append an alternative reply and show it."""
        with self.db.tx() as db:
            row = db.execute("SELECT swipes FROM messages WHERE id = ?", (message_id,)).fetchone()
            swipes = json.loads(row["swipes"]) + [content]
            db.execute(
                "UPDATE messages SET swipes = ?, swipe_index = ?, status = ?, updated_at = ? "
                "WHERE id = ?",
                (json.dumps(swipes, ensure_ascii=False), len(swipes) - 1, status, time.time(),
                 message_id),
            )
            index_text(db, message_id, content)
        return self._get(message_id)

    def _get(self, message_id: int) -> Message:
        row = self.db.one("SELECT * FROM messages WHERE id = ?", message_id)
        if row is None:
            raise NotFound(f"no message with id {message_id}")
        return message_of(row)

    def get(self, message_id: int, *, user_id: int) -> Message:
        row = self.db.one(
            "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.id = ? AND c.user_id = ?",
            message_id, user_id,
        )
        if row is None:
            raise NotFound(
                f"no message with id {message_id}; list a conversation's messages at "
                "/api/conversations/{id}/messages"
            )
        return message_of(row)

    def list(self, conversation_id: int) -> list[Message]:
        rows = self.db.all(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", conversation_id
        )
        return [message_of(r) for r in rows]

    def after(self, after_id: int, *, user_id: int, limit: int) -> builtins.list[Message]:
        """A person's messages (all their conversations) stored after message `after_id`,
        oldest first: what a client that saw up to `after_id` has missed."""
        rows = self.db.all(
            "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.id > ? AND c.user_id = ? ORDER BY m.id LIMIT ?",
            after_id, user_id, limit,
        )
        return [message_of(r) for r in rows]

    def ids(self) -> builtins.list[int]:
        return [r[0] for r in self.db.all("SELECT id FROM messages ORDER BY id")]

    def recent_texts(self, limit: int) -> builtins.list[str]:
        """The last `limit` messages' texts that are not blank, newest first."""
        return [r[0] for r in self.db.all(
            "SELECT text FROM (SELECT id, json_extract(swipes, '$[' || swipe_index || ']') "
            "AS text FROM messages) WHERE trim(text) != '' ORDER BY id DESC LIMIT ?", limit)]

    def edit(
        self, message: Message, *, content: str | None = None, swipe_index: int | None = None,
        status: str | None = None,
    ) -> Message:
        """Edit the shown alternative's text (and status), or show another alternative."""
        swipes = list(message.swipes)
        index = message.swipe_index if swipe_index is None else swipe_index
        if content is not None:
            swipes[index] = content
        with self.db.tx() as db:
            db.execute(
                "UPDATE messages SET swipes = ?, swipe_index = ?, status = ?, updated_at = ? "
                "WHERE id = ?",
                (json.dumps(swipes, ensure_ascii=False), index, status or message.status,
                 time.time(), message.id),
            )
            index_text(db, message.id, swipes[index])
        return self._get(message.id)

    def delete(self, message_id: int) -> None:
        with self.db.tx() as db:
            forget_text(db, "m.id = ?", message_id)
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    # -- for memory: lexical search, owners, neighbours, times --------------------

    def search(self, query: str, *, user_id: int, character_id: int,
               limit: int) -> builtins.list[int]:
        """Message ids best matching an FTS5 query (BM25), for one user and character."""
        rows = self.db.all(
            "SELECT f.rowid FROM messages_fts f "
            "JOIN messages m ON m.id = f.rowid JOIN conversations c ON c.id = m.conversation_id "
            "WHERE messages_fts MATCH ? AND c.user_id = ? AND c.character_id = ? "
            "ORDER BY bm25(messages_fts) LIMIT ?",
            query, user_id, character_id, limit,
        )
        return [r[0] for r in rows]

    def search_substrings(self, terms: Sequence[str], *, user_id: int, character_id: int,
                          limit: int) -> builtins.list[int]:
        """Message ids holding the most (and the rarest) of `terms`, best first, then newest.

        A term is found anywhere in a message ("부산" in "부산에서"): by the trigram index
        when it has three characters or more, else by a scan of the owner's messages.
        """
        owner = "JOIN conversations c ON c.id = m.conversation_id " \
                "WHERE c.user_id = ? AND c.character_id = ?"
        row = self.db.one(f"SELECT COUNT(*) FROM messages m {owner}", user_id, character_id)
        total = row[0] if row else 0
        scores: dict[int, float] = {}
        for term in dict.fromkeys(unicodedata.normalize("NFC", t) for t in terms):
            if len(term) >= 3:
                where, arg = "messages_grams MATCH ?", '"' + term.replace('"', '""') + '"'
            else:
                where, arg = "instr(g.content, ?) > 0", term
            rows = self.db.all(
                f"SELECT g.rowid FROM messages_grams g JOIN messages m ON m.id = g.rowid "
                f"{owner} AND {where} LIMIT ?", user_id, character_id, arg, _TERM_HITS)
            idf = math.log(1 + (total - len(rows) + 0.5) / (len(rows) + 0.5))
            for r in rows:
                scores[r[0]] = scores.get(r[0], 0.0) + idf
        return sorted(scores, key=lambda i: (scores[i], i), reverse=True)[:limit]

    def owned(
        self, *, ids: Sequence[int] | None = None, after_id: int = 0, limit: int = 1000
    ) -> builtins.list[OwnedMessage]:
        """Messages with their owner (user id, character id): by id, or in id order."""
        sql = ("SELECT m.*, c.user_id AS owner, c.character_id AS character FROM messages m "
               "JOIN conversations c ON c.id = m.conversation_id ")
        if ids is not None:
            marks = ",".join("?" * len(ids))
            rows = self.db.all(sql + f"WHERE m.id IN ({marks})", *ids)
        else:
            rows = self.db.all(sql + "WHERE m.id > ? ORDER BY m.id LIMIT ?", after_id, limit)
        return [OwnedMessage(message_of(r), r["owner"], r["character"]) for r in rows]

    def neighbours(self, wanted: Sequence[tuple[int, bool]]) -> dict[int, Message]:
        """For each (message id, after): the next (or previous) message of its conversation."""
        pairs = ",".join("(?, ?)" for _ in wanted)
        rows = self.db.all(
            f"WITH w(id, after) AS (VALUES {pairs}) "
            "SELECT w.id AS of, CASE WHEN w.after THEN "
            "(SELECT n.id FROM messages n WHERE n.conversation_id = m.conversation_id "
            " AND n.id > m.id ORDER BY n.id LIMIT 1) ELSE "
            "(SELECT n.id FROM messages n WHERE n.conversation_id = m.conversation_id "
            " AND n.id < m.id ORDER BY n.id DESC LIMIT 1) END AS beside "
            "FROM w JOIN messages m ON m.id = w.id",
            *(v for pair in wanted for v in (pair[0], int(pair[1]))),
        )
        beside = {r["of"]: r["beside"] for r in rows if r["beside"] is not None}
        if not beside:
            return {}
        found = {o.message.id: o.message for o in self.owned(ids=list(set(beside.values())))}
        return {of: found[b] for of, b in beside.items() if b in found}

    def last_said_before(self, *, user_id: int, character_id: int,
                         before: float) -> float | None:
        """When this user last spoke with this character before `before` (any conversation)."""
        # Per conversation, so each inner MAX is one look-up in the messages_said index.
        row = self.db.one(
            "SELECT MAX((SELECT MAX(created_at) FROM messages WHERE conversation_id = c.id "
            "AND role = 'user' AND created_at < ?)) AS t FROM conversations c "
            "WHERE c.user_id = ? AND c.character_id = ?",
            before, user_id, character_id,
        )
        return row["t"] if row else None

    def first_said(self, *, user_id: int, character_id: int) -> float | None:
        """When this user first spoke with this character (any conversation)."""
        row = self.db.one(
            "SELECT MIN((SELECT MIN(created_at) FROM messages WHERE conversation_id = c.id "
            "AND role = 'user')) AS t FROM conversations c "
            "WHERE c.user_id = ? AND c.character_id = ?",
            user_id, character_id,
        )
        return row["t"] if row else None


    # -- for the relationship: times talked, messages the character started -----------

    def said_times(self, *, user_id: int, character_id: int) -> builtins.list[float]:
        """When this user spoke to this character, oldest first (every conversation)."""
        rows = self.db.all(
            "SELECT m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.user_id = ? AND c.character_id = ? AND m.role = 'user' ORDER BY m.created_at",
            user_id, character_id)
        return [r[0] for r in rows]

    def last(self, conversation_id: int) -> Message | None:
        row = self.db.one("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id DESC "
                          "LIMIT 1", conversation_id)
        return message_of(row) if row else None

    def started(self, *, user_id: int, character_id: int,
                since: float = 0.0) -> builtins.list[Message]:
        """The messages this character started on its own with this user since `since`."""
        rows = self.db.all(
            "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.user_id = ? AND c.character_id = ? AND m.reason IS NOT NULL "
            "AND m.created_at >= ? ORDER BY m.id", user_id, character_id, since)
        return [message_of(r) for r in rows]

def _insert(db: sqlite3.Connection, conversation_id: int, role: str, content: str, status: str,
            created_at: float, now: float) -> int:
    cur = db.execute(
        "INSERT INTO messages (conversation_id, role, swipes, status, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (conversation_id, role, json.dumps([content], ensure_ascii=False), status,
         created_at, now),
    )
    _add_text(db, cur.lastrowid, content)  # type: ignore[arg-type]
    return cur.lastrowid  # type: ignore[return-value]
