"""`hearth backup`, `restore` and `export`: the household's data in and out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hearth.cli.common import Commands, add_command, out
from hearth.cli.flags import read_settings
from hearth.errors import HearthError


def backup(args: argparse.Namespace) -> int:
    from hearth import backup as backups

    settings = read_settings(args)
    snap = backups.backup(settings.db_path, Path(args.file), force=args.force)
    out(f"backed up {snap.users} users, {snap.conversations} conversations and {snap.messages} "
        f"messages to {snap.path} (integrity checked). The memory index is not in it: a "
        "restore rebuilds it from the database.")
    return 0


def restore(args: argparse.Namespace) -> int:
    from hearth import backup as backups

    settings = read_settings(args)
    restored = backups.restore(settings.db_path, Path(args.file),
                               keep_previous=not args.no_keep)
    snap = restored.snapshot
    out(f"restored {snap.users} users, {snap.conversations} conversations and {snap.messages} "
        f"messages from {args.file}.")
    if restored.previous is not None:
        out(f"The data it replaced is kept in {restored.previous}.")
    out("The memory index is rebuilt from the restored data by a running server within "
        "seconds, or when Hearth next starts (`hearth memory reindex` does it now, when no "
        "server runs).")
    return 0


def export(args: argparse.Namespace) -> int:
    from hearth.backup import export_user
    from hearth.store import Store

    settings = read_settings(args)
    dest = None if args.file == "-" else Path(args.file)
    if dest is not None and dest.exists() and not args.force:
        raise HearthError(f"{dest} already exists; choose another file, or pass --force")
    if not settings.db_path.is_file():
        raise HearthError(f"there is no database at {settings.db_path}; check --data-dir")
    store = Store(settings.db_path)
    try:
        text = export_user(store, args.user).model_dump_json(indent=2)
    finally:
        store.close()
    if dest is None:
        out(text)
    else:
        from hearth.store.private import private_file

        private_file(dest)  # everything one person said: theirs to read only
        dest.write_text(text + "\n", encoding="utf-8")
        sys.stderr.write(f"exported {args.user}'s data to {dest}\n")
    return 0


def register(commands: Commands) -> None:
    p = add_command(
        commands, "backup", backup,
        help="copy the database to FILE, safely while the server runs",
        description="Copy the database to FILE as one consistent snapshot (SQLite's online "
        "backup), safe while the server runs and writes, and check the copy. The memory index "
        "is not copied: its files are not consistent while written, and a restore rebuilds it "
        "from the database.")
    p.add_argument("file", help="the backup file to write")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    p = add_command(
        commands, "restore", restore,
        help="replace all data with a backup, safely while the server runs",
        description="Replace every user's data with the backup FILE. FILE is checked first "
        "(integrity, Hearth tables); a file that fails changes nothing. The data is copied "
        "into the live database in one transaction, so a running server switches over "
        "at once; the data it replaces is first kept beside the database. The memory index "
        "is rebuilt from the restored data: by a running server within seconds, otherwise "
        "at the next start.")
    p.add_argument("file", help="a file made by `hearth backup`")
    p.add_argument("--no-keep", action="store_true",
                   help="do not keep a copy of the data being replaced")

    p = add_command(
        commands, "export", export,
        help="write one person's data as JSON",
        description="Write one user's conversations (every message, with alternatives), "
        "rolling summaries, facts, and the characters they talked with, as JSON. Nothing of "
        "any other user, and no password hashes or tokens.")
    p.add_argument("--user", required=True, help="whose data (`hearth users list`)")
    p.add_argument("file", nargs="?", default="-", help="output file, or - for stdout (default)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
