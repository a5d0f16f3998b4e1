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
    from hearth.engines.embed import MiniLMEmbedder
    from hearth.memory.index import MemoryIndex
    from hearth.store import Store


@contextmanager
def _opened(
    args: argparse.Namespace,
) -> Iterator[tuple[Settings, Store, MiniLMEmbedder, MemoryIndex]]:
    """The settings, the database and the index, closed again when the command ends."""
    from hearth.engines.embed import MiniLMEmbedder
    from hearth.memory.index import MemoryIndex
    from hearth.store import Store

    settings = read_settings(args)
    store = Store(settings.db_path)
    embedder = MiniLMEmbedder(settings.memory.embedder_dir)
    index = MemoryIndex(settings.index_path, embedder, url=settings.memory.chroma_url,
                        database=settings.memory.chroma_database)
    try:
        yield settings, store, embedder, index
    finally:
        index.close()
        store.close()


def reindex(args: argparse.Namespace) -> int:
    from hearth.memory.service import Memory

    with _opened(args) as (settings, store, embedder, index):
        # Reindexing embeds and stores; it needs no chat model.
        memory = Memory(store=store, index=index, embedder=embedder, model=None,
                        settings=settings)
        n = memory.reindex()
        out(f"reindexed {n} messages and {index.count() - n} facts and summaries "
            f"into {settings.memory.chroma_url or settings.index_path}")
    return 0


def status(args: argparse.Namespace) -> int:
    from hearth.memory.service import database_generation

    with _opened(args) as (settings, store, embedder, index):
        out(f"{index.count()} memories indexed, {len(store.message_ids())} messages stored")
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
