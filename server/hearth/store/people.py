"""The people of the house, and the keys they use: API tokens and web sessions.

Only a digest of each token is stored; see accounts.py for how they are made.
"""

from __future__ import annotations

import builtins  # the `list` methods below hide the type in later annotations
import sqlite3
import time
import unicodedata

from hearth.errors import Conflict, NotFound
from hearth.store.db import Repository
from hearth.store.messages import forget_text
from hearth.store.records import Token, User

PROFILE_FIELDS = ("display_name", "pronouns", "persona", "timezone", "language", "reach_out")


def user_of(row: sqlite3.Row) -> User:
    return User(id=row["id"], name=row["name"], created_at=row["created_at"], role=row["role"],
                has_password=row["password_hash"] is not None,
                display_name=row["display_name"], pronouns=row["pronouns"],
                persona=row["persona"], timezone=row["timezone"], language=row["language"],
                reach_out=bool(row["reach_out"]))


def token_of(row: sqlite3.Row) -> Token:
    return Token(id=row["id"], user_id=row["user_id"], kind=row["kind"], label=row["label"],
                 created_at=row["created_at"], expires_at=row["expires_at"],
                 last_used_at=row["last_used_at"])


class People(Repository):
    def ensure(self, name: str) -> User:
        """The user with this name, made (as a member) if there is none."""
        with self.db.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)", (name, time.time())
            )
            row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return user_of(row)

    def create(self, name: str, *, role: str, password_hash: str | None) -> User:
        with self.db.tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"there is already a user named {name!r}; choose another name")
            cur = db.execute(
                "INSERT INTO users (name, created_at, role, password_hash) VALUES (?, ?, ?, ?)",
                (name, time.time(), role, password_hash),
            )
        return self.get(cur.lastrowid)  # type: ignore[arg-type]

    def get(self, user_id: int) -> User:
        row = self.db.one("SELECT * FROM users WHERE id = ?", user_id)
        if row is None:
            raise NotFound(f"no user with id {user_id}; list them at /api/users")
        return user_of(row)

    def find_by_name(self, name: str) -> User | None:
        row = self.db.one("SELECT * FROM users WHERE name = ?", unicodedata.normalize("NFC", name))
        return user_of(row) if row else None

    def get_by_name(self, name: str) -> User:
        user = self.find_by_name(name)
        if user is None:
            raise NotFound(f"no user named {name!r}; `hearth users list` shows them")
        return user

    def find_by_token(self, digest: str, *, now: float) -> User | None:
        """The user a live token belongs to (and note its use), or None."""
        with self.db.tx() as db:
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
        return user_of(row)

    def owner(self) -> User | None:
        row = self.db.one("SELECT * FROM users WHERE role = 'owner' ORDER BY id LIMIT 1")
        return user_of(row) if row else None

    def list(self) -> list[User]:
        return [user_of(r) for r in self.db.all("SELECT * FROM users ORDER BY id")]

    def ids(self) -> builtins.list[int]:
        return [r[0] for r in self.db.all("SELECT id FROM users ORDER BY id")]

    def update(self, user_id: int, *, name: str | None = None, role: str | None = None,
               password_hash: str | None = None) -> User:
        sets = {"name": name, "role": role, "password_hash": password_hash}
        sets = {k: v for k, v in sets.items() if v is not None}
        if sets:
            with self.db.tx() as db:
                db.execute(f"UPDATE users SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                           (*sets.values(), user_id))
        return self.get(user_id)

    def set_profile(self, user_id: int, **fields: str | bool) -> User:
        """Set any of the profile's fields (already checked: relationship/profile.py)."""
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        if fields:
            with self.db.tx() as db:
                cur = db.execute(
                    f"UPDATE users SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                    (*fields.values(), user_id))
            if cur.rowcount == 0:
                raise NotFound(f"no user with id {user_id}; list them at /api/users")
        return self.get(user_id)

    def password_hash(self, user_id: int) -> str | None:
        row = self.db.one("SELECT password_hash FROM users WHERE id = ?", user_id)
        return row["password_hash"] if row else None

    def delete(self, user_id: int) -> builtins.list[int]:
        """Delete a user with their conversations, facts and tokens; returns deleted message ids."""
        with self.db.tx() as db:
            ids = forget_text(db, "c.user_id = ?", user_id)
            cur = db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        if cur.rowcount == 0:
            raise NotFound(f"no user with id {user_id}; list them at /api/users")
        return ids


class Tokens(Repository):
    def add(self, user_id: int, *, kind: str, label: str, digest: str,
            expires_at: float | None) -> Token:
        with self.db.tx() as db:
            cur = db.execute(
                "INSERT INTO tokens (user_id, kind, label, digest, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, kind, label, digest, time.time(), expires_at))
            row = db.execute("SELECT * FROM tokens WHERE id = ?", (cur.lastrowid,)).fetchone()
        return token_of(row)

    def list(self, user_id: int) -> list[Token]:
        return [token_of(r) for r in self.db.all(
            "SELECT * FROM tokens WHERE user_id = ? ORDER BY id", user_id)]

    def delete(self, token_id: int, *, user_id: int) -> None:
        with self.db.tx() as db:
            cur = db.execute("DELETE FROM tokens WHERE id = ? AND user_id = ?", (token_id, user_id))
        if cur.rowcount == 0:
            raise NotFound(f"no token with id {token_id}; list yours at /api/tokens")

    def delete_digest(self, digest: str) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM tokens WHERE digest = ?", (digest,))

    def delete_all(self, user_id: int, *, kind: str | None = None) -> int:
        """Delete a user's tokens (of one kind, or all); returns how many."""
        with self.db.tx() as db:
            cur = db.execute("DELETE FROM tokens WHERE user_id = ? AND kind = coalesce(?, kind)",
                             (user_id, kind))
        return cur.rowcount
