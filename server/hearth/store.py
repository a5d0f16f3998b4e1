"""SQLite, the durable record: users, characters, conversations, messages.

WAL mode, one connection guarded by a lock (FastAPI runs sync handlers in a
thread pool). Every write commits before it returns, so a message is on disk
before any model work starts. Times are epoch seconds (UTC).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hearth.errors import NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS characters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    card TEXT NOT NULL,            -- the card's V3 `data` object, as JSON
    avatar BLOB,                   -- PNG bytes, or NULL for a generated placeholder
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations(user_id, updated_at);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    swipes TEXT NOT NULL,          -- JSON list of alternatives; content is swipes[swipe_index]
    swipe_index INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'interrupted')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
"""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True)
class Character:
    id: int
    name: str
    data: dict[str, Any]
    has_avatar: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Conversation:
    id: int
    user_id: int
    character_id: int
    title: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str
    swipes: list[str]
    swipe_index: int
    status: str
    created_at: float
    updated_at: float

    @property
    def content(self) -> str:
        return self.swipes[self.swipe_index]


def _character(row: sqlite3.Row) -> Character:
    return Character(
        id=row["id"],
        name=row["name"],
        data=json.loads(row["card"]),
        has_avatar=row["has_avatar"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        swipes=json.loads(row["swipes"]),
        swipe_index=row["swipe_index"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_CHARACTER_COLUMNS = "id, name, card, avatar IS NOT NULL AS has_avatar, created_at, updated_at"


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL mode
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- meta -------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- users ------------------------------------------------------------

    def ensure_user(self, name: str) -> User:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)", (name, time.time())
            )
            row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return User(id=row["id"], name=row["name"], created_at=row["created_at"])

    # -- characters -------------------------------------------------------

    def create_character(self, *, data: dict[str, Any], avatar: bytes | None) -> Character:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO characters (name, card, avatar, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (data["name"], json.dumps(data, ensure_ascii=False), avatar, now, now),
            )
        return self.get_character(cur.lastrowid)  # type: ignore[arg-type]

    def get_character(self, character_id: int) -> Character:
        row = self._one(f"SELECT {_CHARACTER_COLUMNS} FROM characters WHERE id = ?", character_id)
        if row is None:
            raise NotFound(f"no character with id {character_id}; list them at /api/characters")
        return _character(row)

    def find_character(self, name: str) -> Character:
        row = self._one(
            f"SELECT {_CHARACTER_COLUMNS} FROM characters WHERE name = ? COLLATE NOCASE "
            "ORDER BY id LIMIT 1",
            name,
        )
        if row is None:
            raise NotFound(f"no character named {name!r}; `hearth characters list` shows them")
        return _character(row)

    def list_characters(self) -> list[Character]:
        return [
            _character(r)
            for r in self._all(f"SELECT {_CHARACTER_COLUMNS} FROM characters ORDER BY name, id")
        ]

    def count_characters(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM characters")["n"]  # type: ignore[index]

    def update_character(
        self, character_id: int, *, data: dict[str, Any], avatar: bytes | None = None
    ) -> Character:
        with self._tx() as db:
            sets, args = "name = ?, card = ?, updated_at = ?", [
                data["name"], json.dumps(data, ensure_ascii=False), time.time()
            ]
            if avatar is not None:
                sets += ", avatar = ?"
                args.append(avatar)
            cur = db.execute(f"UPDATE characters SET {sets} WHERE id = ?", (*args, character_id))
        if cur.rowcount == 0:
            raise NotFound(f"no character with id {character_id}; list them at /api/characters")
        return self.get_character(character_id)

    def delete_character(self, character_id: int) -> None:
        """Delete a character and, with it, every conversation held with it."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM characters WHERE id = ?", (character_id,))
        if cur.rowcount == 0:
            raise NotFound(f"no character with id {character_id}; list them at /api/characters")

    def get_avatar(self, character_id: int) -> bytes | None:
        row = self._one("SELECT avatar FROM characters WHERE id = ?", character_id)
        if row is None:
            raise NotFound(f"no character with id {character_id}; list them at /api/characters")
        return row["avatar"]

    # -- conversations ----------------------------------------------------

    def create_conversation(
        self, *, user_id: int, character_id: int, title: str, greetings: list[str]
    ) -> Conversation:
        """A new conversation, opened by the character's greeting (alternatives as swipes)."""
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO conversations (user_id, character_id, title, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (user_id, character_id, title, now, now),
            )
            conversation_id = cur.lastrowid
            if greetings:
                db.execute(
                    "INSERT INTO messages (conversation_id, role, swipes, created_at, updated_at) "
                    "VALUES (?, 'assistant', ?, ?, ?)",
                    (conversation_id, json.dumps(greetings, ensure_ascii=False), now, now),
                )
        return self.get_conversation(conversation_id, user_id=user_id)  # type: ignore[arg-type]

    def get_conversation(self, conversation_id: int, *, user_id: int) -> Conversation:
        # Another user's conversation is "not found", never "forbidden".
        row = self._one(
            "SELECT * FROM conversations WHERE id = ? AND user_id = ?", conversation_id, user_id
        )
        if row is None:
            raise NotFound(
                f"no conversation with id {conversation_id}; list them at /api/conversations"
            )
        return Conversation(**dict(row))

    def delete_conversation(self, conversation_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def list_conversations(self, *, user_id: int) -> list[Conversation]:
        rows = self._all(
            "SELECT * FROM conversations WHERE user_id = ? ORDER BY updated_at DESC, id DESC",
            user_id,
        )
        return [Conversation(**dict(r)) for r in rows]

    # -- messages ---------------------------------------------------------

    def add_message(
        self,
        *,
        conversation_id: int,
        role: str,
        content: str,
        status: str = "complete",
        created_at: float | None = None,
    ) -> Message:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO messages (conversation_id, role, swipes, status, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, role, json.dumps([content], ensure_ascii=False), status,
                 created_at or now, now),
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return self._get_message(cur.lastrowid)  # type: ignore[arg-type]

    def add_swipe(self, message_id: int, *, content: str, status: str = "complete") -> Message:
        """Append an alternative reply and show it."""
        with self._tx() as db:
            row = db.execute("SELECT swipes FROM messages WHERE id = ?", (message_id,)).fetchone()
            swipes = json.loads(row["swipes"]) + [content]
            db.execute(
                "UPDATE messages SET swipes = ?, swipe_index = ?, status = ?, updated_at = ? "
                "WHERE id = ?",
                (json.dumps(swipes, ensure_ascii=False), len(swipes) - 1, status, time.time(),
                 message_id),
            )
        return self._get_message(message_id)

    def _get_message(self, message_id: int) -> Message:
        row = self._one("SELECT * FROM messages WHERE id = ?", message_id)
        if row is None:
            raise NotFound(f"no message with id {message_id}")
        return _message(row)

    def get_message(self, message_id: int, *, user_id: int) -> Message:
        row = self._one(
            "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.id = ? AND c.user_id = ?",
            message_id, user_id,
        )
        if row is None:
            raise NotFound(
                f"no message with id {message_id}; list a conversation's messages at "
                "/api/conversations/{id}/messages"
            )
        return _message(row)

    def list_messages(self, conversation_id: int) -> list[Message]:
        rows = self._all(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", conversation_id
        )
        return [_message(r) for r in rows]

    def edit_message(
        self, message: Message, *, content: str | None = None, swipe_index: int | None = None
    ) -> Message:
        """Edit the shown alternative's text, or show another alternative."""
        swipes = list(message.swipes)
        index = message.swipe_index if swipe_index is None else swipe_index
        if content is not None:
            swipes[index] = content
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET swipes = ?, swipe_index = ?, updated_at = ? WHERE id = ?",
                (json.dumps(swipes, ensure_ascii=False), index, time.time(), message.id),
            )
        return self._get_message(message.id)

    def delete_message(self, message_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
