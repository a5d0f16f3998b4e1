"""`hearth memory`: rebuild the memory index from the database, or see how it stands."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hearth.cli.common import Commands, add_command, add_group, out
from hearth.cli.flags import read_settings
from hearth.config import Settings

if TYPE_CHECKING:
    from hearth.memory.service import Memory
    from hearth.store import Store


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Settings, Store, Memory]]:
    """The settings, the database and the memory index, closed again when the command ends.
    No chat model: reindexing embeds and stores."""
    from hearth.services import open_memory
    from hearth.store import Store

    settings = read_settings(args)
    store = Store(settings.db_path)
    memory = open_memory(settings, store)
    try:
        yield settings, store, memory
    finally:
        memory.close()
        store.close()


def reindex(args: argparse.Namespace) -> int:
    with _opened(args) as (settings, store, memory):
        n = memory.reindex()
        out(f"reindexed {n} messages and {memory.index.count() - n} facts and summaries "
            f"into {settings.memory.chroma_url or settings.index_path}")
    return 0


def status(args: argparse.Namespace) -> int:
    from hearth.memory.service import database_generation

    with _opened(args) as (settings, store, memory):
        index = memory.index
        out(f"{index.count()} memories indexed, {len(store.messages.ids())} messages stored")
        stamp = index.stamp()
        if not stamp.complete or stamp.generation != database_generation(store):
            out("The index was built from other data (a restore since, or a rebuild cut "
                "short): the server rebuilds it, or `hearth memory reindex` now.")
    return 0


def register(commands: Commands) -> None:
    actions = add_group(commands, "memory", help="the memory index: rebuild it from the database")
    add_command(actions, "reindex", reindex,
                help="rebuild the whole index from SQLite (safe any time)")
    add_command(actions, "status", status, help="how many memories are indexed")
