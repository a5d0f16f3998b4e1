"""Files only their owner may read: the data folder (700), the database and its WAL
and shared-memory files, backups and exports (600). Made so, and put right at start
when an earlier version left them readable to every account on the machine."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Make `path` (and any missing parents) a folder only its owner can enter."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Create `path` empty if missing, and make it readable by its owner only."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _chmod(path, 0o600)


def private_database(path: Path) -> None:
    """The database's folder, the database and the files SQLite keeps beside it.
    SQLite gives the -wal and -shm files it makes the database's own mode."""
    private_dir(path.parent)
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _chmod(side, 0o600)


def _chmod(path: Path, mode: int) -> None:
    """Narrow a mode; a file we may not change (someone else's) is warned about."""
    try:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except OSError as e:
        log.warning("%s could not be made private (mode %o): %s", path, mode, e)
