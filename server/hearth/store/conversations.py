"""Conversations, each one user's with one character, and the threads clients name them by."""

from __future__ import annotations

import builtins  # the `list` methods below hide the type in later annotations
import json
import time

from hearth.errors import NotFound
from hearth.store.db import Repository
from hearth.store.messages import forget_text
from hearth.store.records import Conversation


class Conversations(Repository):
    def create(
        self, *, user_id: int, character_id: int, title: str, greetings: list[str],
        created_at: float | None = None,
    ) -> Conversation:
        """A new conversation, opened by the character's greeting (alternatives as swipes);
        `created_at` dates one started earlier (history brought from elsewhere)."""
        now = time.time() if created_at is None else created_at
        with self.db.tx() as db:
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
        return self.get(conversation_id, user_id=user_id)  # type: ignore[arg-type]

    def get(self, conversation_id: int, *, user_id: int) -> Conversation:
        # Another user's conversation is "not found", never "forbidden".
        row = self.db.one(
            "SELECT * FROM conversations WHERE id = ? AND user_id = ?", conversation_id, user_id
        )
        if row is None:
            raise NotFound(
                f"no conversation with id {conversation_id}; list them at /api/conversations"
            )
        return Conversation(**dict(row))

    def list(self, *, user_id: int) -> list[Conversation]:
        rows = self.db.all(
            "SELECT * FROM conversations WHERE user_id = ? ORDER BY updated_at DESC, id DESC",
            user_id,
        )
        return [Conversation(**dict(r)) for r in rows]

    def latest(self, *, user_id: int, character_id: int) -> Conversation | None:
        """This user's most recently active conversation with this character."""
        row = self.db.one(
            "SELECT * FROM conversations WHERE user_id = ? AND character_id = ? "
            "ORDER BY updated_at DESC, id DESC LIMIT 1", user_id, character_id,
        )
        return Conversation(**dict(row)) if row else None

    def delete(self, conversation_id: int) -> builtins.list[int]:
        """Delete a conversation with its messages; returns the deleted message ids."""
        with self.db.tx() as db:
            ids = forget_text(db, "c.id = ?", conversation_id)
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return ids

    # -- threads: the conversations OpenAI-compatible clients name with `user` -----

    def find_thread(self, *, user_id: int, character_id: int, name: str) -> Conversation | None:
        """The conversation a client named `name` (see `set_thread`), if it still exists."""
        row = self.db.one(
            "SELECT c.* FROM threads t JOIN conversations c ON c.id = t.conversation_id "
            "WHERE t.user_id = ? AND t.character_id = ? AND t.name = ?",
            user_id, character_id, name,
        )
        return Conversation(**dict(row)) if row else None

    def set_thread(self, *, user_id: int, character_id: int, name: str,
                   conversation_id: int) -> None:
        with self.db.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO threads (user_id, character_id, name, conversation_id) "
                "VALUES (?, ?, ?, ?)", (user_id, character_id, name, conversation_id),
            )
