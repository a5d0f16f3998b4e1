"""Model ids are stored once per character: an older database gets them in creation order."""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

from hearth.store import Store

OLD_CHARACTERS = """
CREATE TABLE characters (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, card TEXT NOT NULL, avatar BLOB,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
"""


def test_an_older_database_gets_ids_in_creation_order(tmp_path: Path) -> None:
    path = tmp_path / "hearth.db"
    old = sqlite3.connect(path)
    old.executescript(OLD_CHARACTERS)
    nfd = unicodedata.normalize("NFD", "나래")
    for name in ("Seraphina", "Ember", "seraphina", nfd, "?!"):
        old.execute("INSERT INTO characters (name, card, created_at, updated_at) "
                    "VALUES (?, '{}', 0, 0)", (name,))
    old.commit()
    old.close()

    store = Store(path)
    try:
        ids = {c.id: c.model_id for c in store.characters.list()}
        assert ids == {1: "seraphina", 2: "ember", 3: "seraphina-2", 4: "나래", 5: "character"}
        # A newcomer with a taken name gets the next free number; nobody else moves.
        new = store.characters.create(data={"name": "SERAPHINA"}, avatar=None)
        assert new.model_id == "seraphina-3"
        assert {c.id: c.model_id for c in store.characters.list() if c.id != new.id} == ids
        store.characters.delete(3)
        assert store.characters.create(data={"name": "Seraphina"}, avatar=None).model_id \
            == "seraphina-2"
    finally:
        store.close()
    # Opening it again changes nothing.
    again = Store(path)
    try:
        assert again.characters.find_by_model_id("seraphina").id == 1
    finally:
        again.close()
