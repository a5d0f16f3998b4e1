"""A character's model id on the OpenAI-compatible API: its name as a slug, given once.

The id is stored when the character is made and never changes (a rename keeps it),
so a client's saved connection keeps working. A name whose slug is taken gets the
first free number appended (`seraphina-2`), for the newcomer only.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata


def slug(name: str) -> str:
    """`Dr. Quinn` -> `dr-quinn`; letters of any script stay, NFC (`나래`)."""
    text = unicodedata.normalize("NFC", name).casefold()
    return re.sub(r"\W+", "-", text).strip("-_") or "character"


def free_model_id(db: sqlite3.Connection, name: str) -> str:
    """The id a new character called `name` gets (call inside the write transaction)."""
    base = slug(name)
    taken = {r[0] for r in db.execute(
        "SELECT model_id FROM characters WHERE model_id = ? OR model_id LIKE ? ESCAPE '\\'",
        (base, base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "-%"))}
    n, model_id = 1, base
    while model_id in taken:
        n += 1
        model_id = f"{base}-{n}"
    return model_id


def give_model_ids(db: sqlite3.Connection) -> None:
    """Give every character without one an id, in creation order (an older database)."""
    for row in db.execute("SELECT id, name FROM characters WHERE model_id IS NULL "
                          "ORDER BY id").fetchall():
        db.execute("UPDATE characters SET model_id = ? WHERE id = ?",
                   (free_model_id(db, row[1]), row[0]))
