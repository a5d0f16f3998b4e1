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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hearth.errors import Conflict, NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at REAL NOT NULL,
    role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    password_hash TEXT                 -- scrypt, see accounts.py; NULL: tokens only
);
-- API tokens and web sessions. Only a digest of each token is kept.
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('api', 'session')),
    label TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used_at REAL
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
CREATE INDEX IF NOT EXISTS messages_said ON messages(conversation_id, role, created_at);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(user_id, character_id);
-- Lexical search over what was said (rowid = message id), kept in step by the methods below.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(content, tokenize='porter unicode61');
-- What memory the context builder put beside a user message, so later turns
-- render the same prompt prefix (and llama.cpp reuses its cache).
CREATE TABLE IF NOT EXISTS notes (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    sources TEXT NOT NULL          -- JSON list of memory ids ("m12", "f3", "lore:2")
);
-- Where the verbatim part of a conversation's window starts, and the profile and
-- summary text frozen with it: all change together, rarely, so the prefix is stable.
CREATE TABLE IF NOT EXISTS windows (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    start_message_id INTEGER NOT NULL,
    profile TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS summaries (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    upto_message_id INTEGER NOT NULL,  -- covers every message up to and including this id
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    source_message_ids TEXT NOT NULL,  -- JSON list
    said_at REAL NOT NULL,             -- when the user said it
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS facts_owner ON facts(user_id, character_id);
-- The conversations that OpenAI-compatible clients name with their `user` field.
CREATE TABLE IF NOT EXISTS threads (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, character_id, name)
);
"""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    created_at: float
    role: str = "member"
    has_password: bool = False

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


@dataclass(frozen=True)
class Token:
    id: int
    user_id: int
    kind: str
    label: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None


def _user(row: sqlite3.Row) -> User:
    return User(id=row["id"], name=row["name"], created_at=row["created_at"], role=row["role"],
                has_password=row["password_hash"] is not None)


def _token(row: sqlite3.Row) -> Token:
    return Token(id=row["id"], user_id=row["user_id"], kind=row["kind"], label=row["label"],
                 created_at=row["created_at"], expires_at=row["expires_at"],
                 last_used_at=row["last_used_at"])


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


@dataclass(frozen=True)
class Fact:
    id: int
    user_id: int
    character_id: int
    text: str
    source_message_ids: list[int]
    said_at: float
    created_at: float
    updated_at: float


def _fact(row: sqlite3.Row) -> Fact:
    return Fact(**{**dict(row), "source_message_ids": json.loads(row["source_message_ids"])})


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
        self._migrate()
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def _migrate(self) -> None:
        """Bring a database made by an earlier version up to SCHEMA (columns only added)."""
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(users)")}
        if columns and "role" not in columns:
            self._db.execute("ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member' "
                             "CHECK (role IN ('owner', 'member'))")
            self._db.execute("ALTER TABLE users ADD COLUMN password_hash TEXT")

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
        return _user(row)

    def create_user(self, name: str, *, role: str, password_hash: str | None) -> User:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"there is already a user named {name!r}; choose another name")
            cur = db.execute(
                "INSERT INTO users (name, created_at, role, password_hash) VALUES (?, ?, ?, ?)",
                (name, time.time(), role, password_hash),
            )
        return self.get_user(cur.lastrowid)  # type: ignore[arg-type]

    def get_user(self, user_id: int) -> User:
        row = self._one("SELECT * FROM users WHERE id = ?", user_id)
        if row is None:
            raise NotFound(f"no user with id {user_id}; list them at /api/users")
        return _user(row)

    def user_named(self, name: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE name = ?", name)
        return _user(row) if row else None

    def find_user(self, name: str) -> User:
        user = self.user_named(name)
        if user is None:
            raise NotFound(f"no user named {name!r}; `hearth users list` shows them")
        return user

    def list_users(self) -> list[User]:
        return [_user(r) for r in self._all("SELECT * FROM users ORDER BY id")]

    def owner(self) -> User | None:
        row = self._one("SELECT * FROM users WHERE role = 'owner' ORDER BY id LIMIT 1")
        return _user(row) if row else None

    def update_user(self, user_id: int, *, name: str | None = None, role: str | None = None,
                    password_hash: str | None = None) -> User:
        sets = {"name": name, "role": role, "password_hash": password_hash}
        sets = {k: v for k, v in sets.items() if v is not None}
        if sets:
            with self._tx() as db:
                db.execute(f"UPDATE users SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                           (*sets.values(), user_id))
        return self.get_user(user_id)

    def password_hash(self, user_id: int) -> str | None:
        row = self._one("SELECT password_hash FROM users WHERE id = ?", user_id)
        return row["password_hash"] if row else None

    def delete_user(self, user_id: int) -> list[int]:
        """Delete a user with their conversations, facts and tokens; returns deleted message ids."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE c.user_id = ?", (user_id,))]
            db.executemany("DELETE FROM messages_fts WHERE rowid = ?", [(i,) for i in ids])
            cur = db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        if cur.rowcount == 0:
            raise NotFound(f"no user with id {user_id}; list them at /api/users")
        return ids

    # -- tokens -----------------------------------------------------------

    def add_token(self, user_id: int, *, kind: str, label: str, digest: str,
                  expires_at: float | None) -> Token:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO tokens (user_id, kind, label, digest, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (user_id, kind, label, digest, time.time(), expires_at))
            row = db.execute("SELECT * FROM tokens WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _token(row)

    def user_by_token(self, digest: str, *, now: float) -> User | None:
        """The user a live token belongs to (and note its use), or None."""
        with self._tx() as db:
            row = db.execute(
                "SELECT u.*, t.id AS token_id, t.last_used_at FROM tokens t "
                "JOIN users u ON u.id = t.user_id "
                "WHERE t.digest = ? AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (digest, now)).fetchone()
            if row is None:
                return None
            if row["last_used_at"] is None or now - row["last_used_at"] > 60:
                db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?",
                           (now, row["token_id"]))
        return _user(row)

    def list_tokens(self, user_id: int) -> list[Token]:
        return [_token(r) for r in self._all(
            "SELECT * FROM tokens WHERE user_id = ? ORDER BY id", user_id)]

    def delete_token(self, token_id: int, *, user_id: int) -> None:
        with self._tx() as db:
            cur = db.execute("DELETE FROM tokens WHERE id = ? AND user_id = ?", (token_id, user_id))
        if cur.rowcount == 0:
            raise NotFound(f"no token with id {token_id}; list yours at /api/tokens")

    def delete_token_digest(self, digest: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM tokens WHERE digest = ?", (digest,))

    def delete_tokens(self, user_id: int, *, kind: str | None = None) -> int:
        with self._tx() as db:
            cur = db.execute("DELETE FROM tokens WHERE user_id = ? AND kind = coalesce(?, kind)",
                             (user_id, kind))
        return cur.rowcount

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

    def delete_character(self, character_id: int) -> list[int]:
        """Delete a character and every conversation held with it; returns deleted message ids."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE c.character_id = ?", (character_id,))]
            db.executemany("DELETE FROM messages_fts WHERE rowid = ?", [(i,) for i in ids])
            cur = db.execute("DELETE FROM characters WHERE id = ?", (character_id,))
        if cur.rowcount == 0:
            raise NotFound(f"no character with id {character_id}; list them at /api/characters")
        return ids

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

    def delete_conversation(self, conversation_id: int) -> list[int]:
        """Delete a conversation with its messages; returns the deleted message ids."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM messages WHERE conversation_id = ?", (conversation_id,))]
            db.executemany("DELETE FROM messages_fts WHERE rowid = ?", [(i,) for i in ids])
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return ids

    def list_conversations(self, *, user_id: int) -> list[Conversation]:
        rows = self._all(
            "SELECT * FROM conversations WHERE user_id = ? ORDER BY updated_at DESC, id DESC",
            user_id,
        )
        return [Conversation(**dict(r)) for r in rows]

    def latest_conversation(self, *, user_id: int, character_id: int) -> Conversation | None:
        """This user's most recently active conversation with this character."""
        row = self._one(
            "SELECT * FROM conversations WHERE user_id = ? AND character_id = ? "
            "ORDER BY updated_at DESC, id DESC LIMIT 1", user_id, character_id,
        )
        return Conversation(**dict(row)) if row else None

    def thread_conversation(self, *, user_id: int, character_id: int, name: str
                            ) -> Conversation | None:
        """The conversation a client named `name` (see `set_thread`), if it still exists."""
        row = self._one(
            "SELECT c.* FROM threads t JOIN conversations c ON c.id = t.conversation_id "
            "WHERE t.user_id = ? AND t.character_id = ? AND t.name = ?",
            user_id, character_id, name,
        )
        return Conversation(**dict(row)) if row else None

    def set_thread(self, *, user_id: int, character_id: int, name: str,
                   conversation_id: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO threads (user_id, character_id, name, conversation_id) "
                "VALUES (?, ?, ?, ?)", (user_id, character_id, name, conversation_id),
            )

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
            message_id = self._insert_message(db, conversation_id, role, content, status,
                                              created_at or now, now)
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return self._get_message(message_id)

    def add_messages(
        self, *, conversation_id: int, items: Sequence[tuple[str, str, float]]
    ) -> list[int]:
        """Append (role, content, created_at) items in one transaction: all or nothing."""
        now = time.time()
        with self._tx() as db:
            ids = [
                self._insert_message(db, conversation_id, role, content, "complete", at, now)
                for role, content, at in items
            ]
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return ids

    @staticmethod
    def _insert_message(
        db: sqlite3.Connection, conversation_id: int, role: str, content: str, status: str,
        created_at: float, now: float,
    ) -> int:
        cur = db.execute(
            "INSERT INTO messages (conversation_id, role, swipes, status, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, role, json.dumps([content], ensure_ascii=False), status,
             created_at, now),
        )
        db.execute("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)",
                   (cur.lastrowid, content))
        return cur.lastrowid  # type: ignore[return-value]

    @staticmethod
    def _reindex_text(db: sqlite3.Connection, message_id: int, content: str) -> None:
        db.execute("DELETE FROM messages_fts WHERE rowid = ?", (message_id,))
        db.execute("INSERT INTO messages_fts (rowid, content) VALUES (?, ?)", (message_id, content))

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
            self._reindex_text(db, message_id, content)
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
        self, message: Message, *, content: str | None = None, swipe_index: int | None = None,
        status: str | None = None,
    ) -> Message:
        """Edit the shown alternative's text (and status), or show another alternative."""
        swipes = list(message.swipes)
        index = message.swipe_index if swipe_index is None else swipe_index
        if content is not None:
            swipes[index] = content
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET swipes = ?, swipe_index = ?, status = ?, updated_at = ? "
                "WHERE id = ?",
                (json.dumps(swipes, ensure_ascii=False), index, status or message.status,
                 time.time(), message.id),
            )
            self._reindex_text(db, message.id, swipes[index])
        return self._get_message(message.id)

    def delete_message(self, message_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            db.execute("DELETE FROM messages_fts WHERE rowid = ?", (message_id,))

    # -- memory: lexical search, owners, neighbours ---------------------------

    def search_messages(
        self, query: str, *, user_id: int, character_id: int, limit: int
    ) -> list[int]:
        """Message ids best matching an FTS5 query (BM25), for one user and character."""
        rows = self._all(
            "SELECT f.rowid FROM messages_fts f "
            "JOIN messages m ON m.id = f.rowid JOIN conversations c ON c.id = m.conversation_id "
            "WHERE messages_fts MATCH ? AND c.user_id = ? AND c.character_id = ? "
            "ORDER BY bm25(messages_fts) LIMIT ?",
            query, user_id, character_id, limit,
        )
        return [r[0] for r in rows]

    def memory_rows(
        self, *, ids: Sequence[int] | None = None, after_id: int = 0, limit: int = 1000
    ) -> list[tuple[Message, int, int]]:
        """Messages with their owner (user id, character id): by id, or in id order."""
        sql = ("SELECT m.*, c.user_id AS owner, c.character_id AS character FROM messages m "
               "JOIN conversations c ON c.id = m.conversation_id ")
        if ids is not None:
            marks = ",".join("?" * len(ids))
            rows = self._all(sql + f"WHERE m.id IN ({marks})", *ids)
        else:
            rows = self._all(sql + "WHERE m.id > ? ORDER BY m.id LIMIT ?", after_id, limit)
        return [(_message(r), r["owner"], r["character"]) for r in rows]

    def neighbours(self, wanted: Sequence[tuple[int, bool]]) -> dict[int, Message]:
        """For each (message id, after): the next (or previous) message of its conversation."""
        pairs = ",".join("(?, ?)" for _ in wanted)
        rows = self._all(
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
        found = {m.id: m for m, _, _ in self.memory_rows(ids=list(set(beside.values())))}
        return {of: found[b] for of, b in beside.items() if b in found}

    def user_ids(self) -> list[int]:
        return [r[0] for r in self._all("SELECT id FROM users ORDER BY id")]

    def summarised_conversations(self) -> list[int]:
        return [r[0] for r in self._all("SELECT conversation_id FROM summaries")]

    def message_ids(self) -> list[int]:
        return [r[0] for r in self._all("SELECT id FROM messages ORDER BY id")]

    def last_message_before(self, *, user_id: int, character_id: int, before: float) -> float | None:
        """When this user last spoke with this character before `before` (any conversation)."""
        # Per conversation, so each inner MAX is one look-up in the messages_said index.
        row = self._one(
            "SELECT MAX((SELECT MAX(created_at) FROM messages WHERE conversation_id = c.id "
            "AND role = 'user' AND created_at < ?)) AS t FROM conversations c "
            "WHERE c.user_id = ? AND c.character_id = ?",
            before, user_id, character_id,
        )
        return row["t"] if row else None

    def first_message_time(self, *, user_id: int, character_id: int) -> float | None:
        row = self._one(
            "SELECT MIN((SELECT MIN(created_at) FROM messages WHERE conversation_id = c.id "
            "AND role = 'user')) AS t FROM conversations c "
            "WHERE c.user_id = ? AND c.character_id = ?",
            user_id, character_id,
        )
        return row["t"] if row else None

    # -- notes, windows, summaries --------------------------------------------

    def set_note(self, message_id: int, *, text: str, sources: Sequence[str]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO notes (message_id, text, sources) VALUES (?, ?, ?)",
                       (message_id, text, json.dumps(list(sources))))

    def notes(self, conversation_id: int) -> dict[int, tuple[str, list[str]]]:
        rows = self._all(
            "SELECT n.* FROM notes n JOIN messages m ON m.id = n.message_id "
            "WHERE m.conversation_id = ?", conversation_id,
        )
        return {r["message_id"]: (r["text"], json.loads(r["sources"])) for r in rows}

    def get_window(self, conversation_id: int) -> tuple[int, str, str] | None:
        row = self._one("SELECT * FROM windows WHERE conversation_id = ?", conversation_id)
        return (row["start_message_id"], row["profile"], row["summary"]) if row else None

    def set_window(
        self, conversation_id: int, *, start_message_id: int, profile: str, summary: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO windows (conversation_id, start_message_id, profile, "
                "summary) VALUES (?, ?, ?, ?)",
                (conversation_id, start_message_id, profile, summary),
            )

    def get_summary(self, conversation_id: int) -> tuple[str, int, float] | None:
        row = self._one("SELECT * FROM summaries WHERE conversation_id = ?", conversation_id)
        return (row["text"], row["upto_message_id"], row["updated_at"]) if row else None

    def set_summary(self, conversation_id: int, *, text: str, upto_message_id: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO summaries (conversation_id, text, upto_message_id, "
                "updated_at) VALUES (?, ?, ?, ?)",
                (conversation_id, text, upto_message_id, time.time()),
            )

    # -- facts ------------------------------------------------------------------

    def add_fact(
        self, *, user_id: int, character_id: int, text: str, source_message_ids: Sequence[int],
        said_at: float,
    ) -> Fact:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO facts (user_id, character_id, text, source_message_ids, said_at, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user_id, character_id, text, json.dumps(list(source_message_ids)), said_at, now,
                 now),
            )
        return self.get_fact(cur.lastrowid, user_id=user_id)  # type: ignore[arg-type]

    def get_fact(self, fact_id: int, *, user_id: int) -> Fact:
        row = self._one("SELECT * FROM facts WHERE id = ? AND user_id = ?", fact_id, user_id)
        if row is None:
            raise NotFound(f"no fact with id {fact_id}; list them at /api/facts")
        return _fact(row)

    def get_facts(self, ids: Sequence[int]) -> list[Fact]:
        marks = ",".join("?" * len(ids))
        return [_fact(r) for r in self._all(f"SELECT * FROM facts WHERE id IN ({marks})", *ids)]

    def list_facts(self, *, user_id: int, character_id: int | None = None) -> list[Fact]:
        if character_id is None:
            rows = self._all("SELECT * FROM facts WHERE user_id = ? ORDER BY said_at, id", user_id)
        else:
            rows = self._all(
                "SELECT * FROM facts WHERE user_id = ? AND character_id = ? ORDER BY said_at, id",
                user_id, character_id,
            )
        return [_fact(r) for r in rows]

    def update_fact(self, fact_id: int, *, user_id: int, text: str) -> Fact:
        with self._tx() as db:
            db.execute("UPDATE facts SET text = ?, updated_at = ? WHERE id = ? AND user_id = ?",
                       (text, time.time(), fact_id, user_id))
        return self.get_fact(fact_id, user_id=user_id)

    def delete_fact(self, fact_id: int, *, user_id: int) -> None:
        self.get_fact(fact_id, user_id=user_id)
        with self._tx() as db:
            db.execute("DELETE FROM facts WHERE id = ?", (fact_id,))
