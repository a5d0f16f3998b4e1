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

    def claim(self, key: str, holder: str, *, now: float, seconds: float) -> bool:
        """Hold the lease `key` for `seconds` (taking it if free or expired); False when
        another holder has it. Lets one of several processes on a database do a job."""
        with self.db.tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is not None:
                other, _, until = row["value"].rpartition("@")
                if other != holder and float(until) > now:
                    return False
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                       (key, f"{holder}@{now + seconds}"))
        return True
