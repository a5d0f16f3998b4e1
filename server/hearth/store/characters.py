"""Characters: each card's V3 `data` object, as JSON, and its avatar."""

from __future__ import annotations

import builtins  # the `list` methods below hide the type in later annotations
import json
import sqlite3
import time
import unicodedata
from typing import Any

from hearth.errors import NotFound
from hearth.store.db import Repository
from hearth.store.messages import forget_text
from hearth.store.model_ids import free_model_id
from hearth.store.records import Character

_COLUMNS = (
    "id, name, model_id, card, avatar IS NOT NULL AS has_avatar, created_at, updated_at, "
    "(SELECT json_group_array(key) FROM lore_keys_off WHERE character_id = characters.id) "
    "AS lore_keys_off"
)


def character_of(row: sqlite3.Row) -> Character:
    return Character(
        id=row["id"],
        name=row["name"],
        model_id=row["model_id"],
        data=json.loads(row["card"]),
        has_avatar=row["has_avatar"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        lore_keys_off=tuple(json.loads(row["lore_keys_off"])),
    )


def _missing(character_id: int) -> NotFound:
    return NotFound(f"no character with id {character_id}; list them at /api/characters")


class Characters(Repository):
    def create(self, *, data: dict[str, Any], avatar: bytes | None) -> Character:
        now = time.time()
        with self.db.tx() as db:
            cur = db.execute(
                "INSERT INTO characters (name, card, avatar, created_at, updated_at, model_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (data["name"], json.dumps(data, ensure_ascii=False), avatar, now, now,
                 free_model_id(db, data["name"])),
            )
        return self.get(cur.lastrowid)  # type: ignore[arg-type]

    def get(self, character_id: int) -> Character:
        row = self.db.one(f"SELECT {_COLUMNS} FROM characters WHERE id = ?", character_id)
        if row is None:
            raise _missing(character_id)
        return character_of(row)

    def find_by_name(self, name: str) -> Character | None:
        """The first character with this name (any case), or None."""
        row = self.db.one(
            f"SELECT {_COLUMNS} FROM characters WHERE name = ? COLLATE NOCASE "
            "ORDER BY id LIMIT 1",
            unicodedata.normalize("NFC", name),  # names are stored NFC
        )
        return character_of(row) if row else None

    def find_by_model_id(self, model_id: str) -> Character | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM characters WHERE model_id = ?", model_id)
        return character_of(row) if row else None

    def get_by_name(self, name: str) -> Character:
        character = self.find_by_name(name)
        if character is None:
            raise NotFound(f"no character named {name!r}; `hearth characters list` shows them")
        return character

    def list(self) -> list[Character]:
        return [
            character_of(r)
            for r in self.db.all(f"SELECT {_COLUMNS} FROM characters ORDER BY name, id")
        ]

    def count(self) -> int:
        return int(self.db.one("SELECT COUNT(*) AS n FROM characters")["n"])  # type: ignore[index]

    def avatar(self, character_id: int) -> bytes | None:
        """The avatar's PNG bytes, or None for a generated placeholder."""
        row = self.db.one("SELECT avatar FROM characters WHERE id = ?", character_id)
        if row is None:
            raise _missing(character_id)
        avatar: bytes | None = row["avatar"]
        return avatar

    def update(
        self, character_id: int, *, data: dict[str, Any], avatar: bytes | None = None
    ) -> Character:
        with self.db.tx() as db:
            sets, args = "name = ?, card = ?, updated_at = ?", [
                data["name"], json.dumps(data, ensure_ascii=False), time.time()
            ]
            if avatar is not None:
                sets += ", avatar = ?"
                args.append(avatar)
            cur = db.execute(f"UPDATE characters SET {sets} WHERE id = ?", (*args, character_id))
        if cur.rowcount == 0:
            raise _missing(character_id)
        return self.get(character_id)

    def turn_off_lore_key(self, character_id: int, key: str) -> None:
        """Turn a lorebook key off for the character (until `turn_on_lore_keys`)."""
        with self.db.tx() as db:
            db.execute("INSERT OR IGNORE INTO lore_keys_off (character_id, key) "
                       "SELECT id, ? FROM characters WHERE id = ?", (key, character_id))

    def turn_on_lore_keys(self, character_id: int) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM lore_keys_off WHERE character_id = ?", (character_id,))

    def delete(self, character_id: int) -> builtins.list[int]:
        """Delete a character and every conversation held with it; returns deleted message ids."""
        with self.db.tx() as db:
            ids = forget_text(db, "c.character_id = ?", character_id)
            cur = db.execute("DELETE FROM characters WHERE id = ?", (character_id,))
        if cur.rowcount == 0:
            raise _missing(character_id)
        return ids
