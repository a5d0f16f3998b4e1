"""Backup, restore and export: copies of the durable record, made and put back safely.

SQLite is the record. A backup is a consistent snapshot taken with SQLite's online
backup API, so it is safe while the server runs and writes (WAL): writers carry
on, and the copy is the database as of one moment. The memory index is not
copied: Chroma's files are not consistent while they are being written, and the
index is derived from SQLite anyway.

A restore checks the file, brings a copy of it to this version's schema off to
the side, and then copies that INTO the live database through the same backup
API, as one write transaction: a running server's open connection sees the old
data or the new, never a mix, and no file is swapped under it. The restored
database gets a new *restore generation* (a meta key). The memory index records
the generation it was built from, so whoever holds the index rebuilds it: a
running server notices within seconds (`watch_restores`), otherwise the next
start does (`Memory.sync`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from hearth.errors import Conflict, InvalidInput, NotFound
from hearth.memory.service import RESTORE_GENERATION, database_generation
from hearth.store import Store
from hearth.store.private import private_file

log = logging.getLogger(__name__)

# Tables every database `hearth backup` can make has; a file without them is not one of ours.
REQUIRED_TABLES = frozenset({
    "meta", "users", "characters", "conversations", "messages", "messages_fts", "summaries",
    "facts",
})
WATCH_SECONDS = 2.0  # how often a running server looks for a restore (one meta read)


class NotABackup(InvalidInput):
    """The file is not a sound Hearth database; nothing was changed."""


@dataclass(frozen=True)
class Snapshot:
    """What a backup file holds."""

    path: Path
    users: int
    characters: int
    conversations: int
    messages: int
    generation: str


@dataclass(frozen=True)
class Restored:
    snapshot: Snapshot  # what the database holds now, with its new generation
    previous: Path | None  # a backup of the data it replaced


def _new_generation() -> str:
    return f"{int(time.time())}-{uuid.uuid4().hex[:12]}"


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


# -- backup ----------------------------------------------------------------------


def backup(db_path: Path, dest: Path, *, force: bool = False) -> Snapshot:
    """Copy the live database to `dest` as one consistent snapshot, and verify the copy.

    The copy is written beside `dest` and renamed into place only once it checks
    out, so a failed backup never leaves a half-written file behind.
    """
    if not db_path.is_file():
        raise NotFound(f"there is no database at {db_path}; check --data-dir")
    if dest.exists() and dest.resolve() == db_path.resolve():
        raise InvalidInput(f"{dest} is the live database itself; back up to another file")
    if dest.exists() and not force:
        raise Conflict(f"{dest} already exists; choose another file, or pass --force to "
                       "overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        private_file(partial)  # a backup holds everything: its owner's eyes only
        with closing(sqlite3.connect(db_path, timeout=30)) as live, \
                closing(sqlite3.connect(partial)) as out:
            live.backup(out)  # one step: one read transaction, so one moment's data
            out.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            # A copy put back by hand (not through `hearth restore`) still gets its
            # index rebuilt: its generation matches no index.
            out.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        (RESTORE_GENERATION, _new_generation()))
            out.commit()
        snapshot = check_database(partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    log.info("backed up %s to %s (%d messages)", db_path, dest, snapshot.messages)
    return replace(snapshot, path=dest)


def check_database(path: Path) -> Snapshot:
    """Check that `path` is a sound Hearth database; raises NotABackup if it is not."""
    if not path.is_file():
        raise NotFound(f"there is no file {path}")
    if path.stat().st_size == 0:
        raise NotABackup(f"{path} is empty; use a file made by `hearth backup`")
    try:
        with closing(_read_only(path)) as db:
            problems = [r[0] for r in db.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise NotABackup(f"{path} is damaged (SQLite integrity check: "
                                 f"{'; '.join(problems[:3])}); use another backup")
            tables = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            missing = sorted(REQUIRED_TABLES - tables)
            if missing:
                raise NotABackup(f"{path} is an SQLite database but not a Hearth one "
                                 f"(no {', '.join(missing)} table); use a file made by "
                                 "`hearth backup`")
            counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("users", "characters", "conversations", "messages")]
            row = db.execute("SELECT value FROM meta WHERE key = ?",
                             (RESTORE_GENERATION,)).fetchone()
    except sqlite3.DatabaseError as e:
        raise NotABackup(f"{path} is not a Hearth backup ({e}); use a file made by "
                         "`hearth backup`") from e
    return Snapshot(path, *counts, generation=row[0] if row else "")


# -- restore ---------------------------------------------------------------------


def restore(db_path: Path, source: Path, *, keep_previous: bool = True) -> Restored:
    """Replace the live database's contents with the backup `source`.

    Nothing is touched until `source` has passed its checks and been brought to
    this version's schema in a staging copy. With `keep_previous`, the data being
    replaced is first backed up beside the database (`hearth-before-restore-*.db`).
    """
    check_database(source)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    Store(db_path).close()  # a fresh install: make the database (WAL) to restore into
    staged = db_path.with_name(f".restore-{uuid.uuid4().hex[:8]}.db")
    try:
        with closing(_read_only(source)) as src, closing(sqlite3.connect(staged)) as out:
            src.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")
        _match_page_size(staged, db_path)
        # Columns and tables this version added; then the new generation.
        store = Store(staged)
        generation = _new_generation()
        store.meta.set(RESTORE_GENERATION, generation)
        store.close()
        snapshot = check_database(staged)
        previous = None
        if keep_previous:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            previous = backup(db_path, db_path.with_name(f"hearth-before-restore-{stamp}.db"),
                              force=True).path
            log.info("the data before the restore is kept in %s", previous)
        with closing(sqlite3.connect(staged)) as src, \
                closing(sqlite3.connect(db_path, timeout=30)) as live:
            src.backup(live)  # one write transaction on the live database
    finally:
        for leftover in (staged, staged.with_name(staged.name + "-wal"),
                         staged.with_name(staged.name + "-shm")):
            leftover.unlink(missing_ok=True)
    log.info("restored %s into %s (generation %s)", source, db_path, generation)
    return Restored(replace(snapshot, path=db_path), previous)


def _match_page_size(staged: Path, db_path: Path) -> None:
    """The backup API cannot change a WAL database's page size: make the copy match."""
    with closing(sqlite3.connect(db_path, timeout=30)) as live:
        wanted = int(live.execute("PRAGMA page_size").fetchone()[0])
    with closing(sqlite3.connect(staged, isolation_level=None)) as db:
        if int(db.execute("PRAGMA page_size").fetchone()[0]) != wanted:
            db.execute(f"PRAGMA page_size={wanted}")
            db.execute("VACUUM")


async def watch_restores(store: Store, on_restore: Callable[[], None], *,
                         every: float = WATCH_SECONDS) -> None:
    """Call `on_restore` whenever a restore has replaced the data under a running server.

    Costs one meta read every `every` seconds. Runs until cancelled.
    """
    seen = await asyncio.to_thread(database_generation, store)
    while True:
        await asyncio.sleep(every)
        try:
            now = await asyncio.to_thread(database_generation, store)
        except sqlite3.Error:
            log.exception("could not read the restore generation; trying again")
            continue
        if now != seen:
            log.info("the database was restored (generation %s); rebuilding what derives "
                     "from it", now)
            seen = now
            on_restore()


# -- export ------------------------------------------------------------------------


class ExportedUser(BaseModel):
    name: str
    role: str
    created_at: datetime
    # The profile as set ('' = not set); times in this file stay UTC.
    display_name: str = ""
    pronouns: str = ""
    persona: str = ""
    timezone: str = ""
    language: str = ""
    reach_out: bool = True


class ExportedCharacter(BaseModel):
    id: int
    name: str


class ExportedMessage(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "interrupted"]
    swipes: list[str]
    swipe_index: int
    created_at: datetime
    updated_at: datetime
    reason: dict[str, Any] | None = None  # why the character wrote first ({kind, about, due})


class ExportedSummary(BaseModel):
    text: str
    upto_message_id: int
    updated_at: datetime


class ExportedConversation(BaseModel):
    id: int
    character_id: int
    title: str
    created_at: datetime
    updated_at: datetime
    summary: ExportedSummary | None
    messages: list[ExportedMessage]


class ExportedFact(BaseModel):
    id: int
    character_id: int
    text: str
    source_message_ids: list[int]
    said_at: datetime
    updated_at: datetime


class ExportedPlan(BaseModel):
    id: int
    character_id: int
    conversation_id: int
    text: str
    kind: str
    due_at: datetime
    all_day: bool
    status: str
    source_message_ids: list[int]


class Export(BaseModel):
    """One person's data: never another user's, never a password hash or token."""

    format: Literal["hearth-export"] = "hearth-export"
    version: Literal[1] = 1
    exported_at: datetime
    user: ExportedUser
    characters: list[ExportedCharacter]
    conversations: list[ExportedConversation]
    facts: list[ExportedFact]
    plans: list[ExportedPlan] = []


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def export_user(store: Store, name: str) -> Export:
    """Everything of the user called `name`: conversations, summaries, facts."""
    user = store.people.get_by_name(name)
    conversations = []
    for c in sorted(store.conversations.list(user_id=user.id), key=lambda c: c.id):
        summary = store.summaries.find(c.id)
        conversations.append(ExportedConversation(
            id=c.id, character_id=c.character_id, title=c.title,
            created_at=_at(c.created_at), updated_at=_at(c.updated_at),
            summary=ExportedSummary(
                text=summary.text, upto_message_id=summary.upto_message_id,
                updated_at=_at(summary.updated_at)) if summary else None,
            messages=[ExportedMessage(
                id=m.id, role=m.role, content=m.content, status=m.status,  # type: ignore[arg-type]
                swipes=m.swipes, swipe_index=m.swipe_index, created_at=_at(m.created_at),
                updated_at=_at(m.updated_at), reason=m.reason,
            ) for m in store.messages.list(c.id)],
        ))
    facts = [ExportedFact(id=f.id, character_id=f.character_id, text=f.text,
                          source_message_ids=f.source_message_ids, said_at=_at(f.said_at),
                          updated_at=_at(f.updated_at))
             for f in store.facts.list(user_id=user.id)]
    character_ids = sorted({c.character_id for c in conversations}
                           | {f.character_id for f in facts})
    return Export(
        exported_at=datetime.now(UTC),
        user=ExportedUser(name=user.name, role=user.role, created_at=_at(user.created_at),
                          display_name=user.display_name, pronouns=user.pronouns,
                          persona=user.persona, timezone=user.timezone,
                          language=user.language, reach_out=user.reach_out),
        characters=[ExportedCharacter(id=i, name=store.characters.get(i).name)
                    for i in character_ids],
        conversations=conversations, facts=facts,
        plans=[ExportedPlan(id=p.id, character_id=p.character_id,
                            conversation_id=p.conversation_id, text=p.text, kind=p.kind,
                            due_at=_at(p.due_at), all_day=p.all_day, status=p.status,
                            source_message_ids=p.source_message_ids)
               for p in store.plans.list(user_id=user.id)],
    )
