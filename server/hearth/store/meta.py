"""Small facts about the database itself, by key (e.g. its restore generation)."""

from __future__ import annotations

from hearth.store.db import Repository


class Meta(Repository):
    def find(self, key: str) -> str | None:
        row = self.db.one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def set(self, key: str, value: str) -> None:
        with self.db.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
