"""`hearth characters`: list, import and export character cards."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hearth.cli.common import Commands, add_command, add_group, out
from hearth.cli.flags import read_settings

if TYPE_CHECKING:
    from hearth.services import Characters


@contextmanager
def _characters(args: argparse.Namespace) -> Iterator[Characters]:
    """The API's characters service over the database (nothing here touches the index)."""
    from hearth.services import Characters, seed_default_character
    from hearth.store import Store

    settings = read_settings(args)
    store = Store(settings.db_path)
    seed_default_character(store)
    try:
        yield Characters(store, None, settings)
    finally:
        store.close()


def list_characters(args: argparse.Namespace) -> int:
    with _characters(args) as characters:
        for c in characters.all():
            out(f"{c.id:>4}  {c.name}")
    return 0


def import_card(args: argparse.Namespace) -> int:
    with _characters(args) as characters:
        c = characters.import_card(Path(args.file).read_bytes())
        out(f"imported {c.name} as character {c.id}")
    return 0


def export_card(args: argparse.Namespace) -> int:
    with _characters(args) as characters:
        path = Path(args.file)
        card = characters.export(args.id, "json" if path.suffix.lower() == ".json" else "png")
        path.write_bytes(card.content)
        out(f"exported {card.character.name} to {path}")
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
