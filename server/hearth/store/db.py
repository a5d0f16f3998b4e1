"""The SQLite connection every repository shares: schema, pragmas, lock, transactions.

WAL mode, one connection guarded by a lock (FastAPI runs sync handlers in a
thread pool). Every write commits before it returns, so a message is on disk
before any model work starts. Times are epoch seconds (UTC).
"""

from __future__ import annotations

import sqlite3
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hearth.store.model_ids import give_model_ids
from hearth.store.private import private_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at REAL NOT NULL,
    role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    password_hash TEXT,                -- scrypt, see accounts.py; NULL: tokens only
    -- The person's profile (relationship/profile.py checks it); '' = not set.
    display_name TEXT NOT NULL DEFAULT '',
    pronouns TEXT NOT NULL DEFAULT '',
    persona TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL DEFAULT '',  -- IANA name; '' = the server's local zone
    language TEXT NOT NULL DEFAULT '',  -- BCP-47; '' = "en"
    reach_out INTEGER NOT NULL DEFAULT 1  -- the character may start a conversation
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
    updated_at REAL NOT NULL,
    model_id TEXT                  -- its id on /v1/models, given once (store/characters.py)
);
CREATE UNIQUE INDEX IF NOT EXISTS characters_model_id ON characters(model_id);
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
    updated_at REAL NOT NULL,
    reason TEXT                    -- JSON {kind, about, due} when the character wrote first
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
CREATE INDEX IF NOT EXISTS messages_said ON messages(conversation_id, role, created_at);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(user_id, character_id);
-- Lexical search over what was said (rowid = message id), kept in step by messages.py.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(content, tokenize='porter unicode61');
-- The same text (NFC) by trigrams, for words that carry their particles ("고양이가") and
-- languages without spaces: searched by substring.
CREATE VIRTUAL TABLE IF NOT EXISTS messages_grams USING fts5(content, tokenize='trigram');
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
-- The person's dated plans and yearly dates, found in what they said (relationship/plans.py).
CREATE TABLE IF NOT EXISTS plans (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('plan', 'date')),  -- date: yearly (a birthday)
    due_at REAL NOT NULL,
    all_day INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('upcoming', 'done', 'cancelled')),
    source_message_ids TEXT NOT NULL,  -- JSON list
    followed_up_at REAL,               -- when the character asked about it
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS plans_owner ON plans(user_id, due_at);
-- Lorebook regex keys that ran out of time on a message, off for their character.
CREATE TABLE IF NOT EXISTS lore_keys_off (
    character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    PRIMARY KEY (character_id, key)
);
"""

# The profile columns as an older database gains them.
PROFILE_COLUMNS = {
    "display_name": "TEXT NOT NULL DEFAULT ''",
    "pronouns": "TEXT NOT NULL DEFAULT ''",
    "persona": "TEXT NOT NULL DEFAULT ''",
    "timezone": "TEXT NOT NULL DEFAULT ''",
    "language": "TEXT NOT NULL DEFAULT ''",
    "reach_out": "INTEGER NOT NULL DEFAULT 1",
}


class Database:
    """One connection, one lock: reads with `one`/`all`, writes inside `tx()`."""

    def __init__(self, path: Path) -> None:
        private_database(path)  # 700 folder, 600 files: the household's words are private
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL mode
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()
        new_grams = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'messages_grams'").fetchone() is None
        self._db.executescript(SCHEMA)
        if new_grams:
            self._index_grams()
        with self.tx() as db:  # characters from before stored model ids, in creation order
            give_model_ids(db)

    def _migrate(self) -> None:
        """Bring a database made by an earlier version up to SCHEMA (columns only added)."""
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(users)")}
        if columns and "role" not in columns:
            self._db.execute("ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member' "
                             "CHECK (role IN ('owner', 'member'))")
            self._db.execute("ALTER TABLE users ADD COLUMN password_hash TEXT")
            columns |= {"role", "password_hash"}
        for column, kind in PROFILE_COLUMNS.items():
            if columns and column not in columns:
                self._db.execute(f"ALTER TABLE users ADD COLUMN {column} {kind}")
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(messages)")}
        if columns and "reason" not in columns:
            self._db.execute("ALTER TABLE messages ADD COLUMN reason TEXT")
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(characters)")}
        if columns and "model_id" not in columns:
            self._db.execute("ALTER TABLE characters ADD COLUMN model_id TEXT")

    def _index_grams(self) -> None:
        """Fill the trigram index of a database made before it (or a new, empty one)."""
        with self.tx() as db:
            rows = db.execute("SELECT rowid, content FROM messages_fts").fetchall()
            db.executemany("INSERT INTO messages_grams (rowid, content) VALUES (?, ?)",
                           [(r[0], unicodedata.normalize("NFC", r[1])) for r in rows])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, args).fetchone()
            return row

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()


class Repository:
    """A family of records over the shared database."""

    def __init__(self, db: Database) -> None:
        self.db = db
