"""`hearth characters`: list, import and export character cards."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hearth.cli.common import Commands, add_command, add_group, out
from hearth.cli.flags import read_settings
from hearth.config import Settings

if TYPE_CHECKING:
    from hearth.store import Store


@contextmanager
def _characters(args: argparse.Namespace) -> Iterator[tuple[Settings, Store]]:
    from hearth.services import seed_default_character
    from hearth.store import Store

    settings = read_settings(args)
    store = Store(settings.db_path)
    seed_default_character(store)
    try:
        yield settings, store
    finally:
        store.close()


def list_characters(args: argparse.Namespace) -> int:
    with _characters(args) as (settings, store):
        for c in store.list_characters():
            out(f"{c.id:>4}  {c.name}")
    return 0


def import_card(args: argparse.Namespace) -> int:
    from hearth import characters as cards

    with _characters(args) as (settings, store):
        raw = Path(args.file).read_bytes()
        card = cards.parse_card(raw, max_bytes=settings.limits.max_card_bytes)
        c = store.create_character(data=card.data, avatar=card.avatar)
        out(f"imported {c.name} as character {c.id}")
    return 0


def export_card(args: argparse.Namespace) -> int:
    import json

    from hearth import characters as cards

    with _characters(args) as (settings, store):
        c = store.get_character(args.id)
        path = Path(args.file)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(cards.to_v3(c.data), ensure_ascii=False, indent=2))
        else:
            path.write_bytes(cards.card_to_png(c.data, store.get_avatar(c.id)))
        out(f"exported {c.name} to {path}")
    return 0


def register(commands: Commands) -> None:
    actions = add_group(commands, "characters", help="list, import or export characters")
    add_command(actions, "list", list_characters, help="list the characters")
    a = add_command(actions, "import", import_card, help="import a card (PNG or JSON, V1/V2/V3)")
    a.add_argument("file", help="card file")
    a = add_command(actions, "export", export_card,
                    help="export a card (.png with V2+V3 chunks, or .json V3)")
    a.add_argument("id", type=int, help="character id (see `hearth characters list`)")
    a.add_argument("file", help="output file; its suffix (.png or .json) picks the format")
