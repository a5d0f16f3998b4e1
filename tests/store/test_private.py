"""What the household said is readable by the account Hearth runs as, and no other:
the data folder is 700; the database, its WAL and shared memory, backups and exports
are 600. Files an earlier version left open are closed at the next start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hearth import backup
from hearth.store import Store
from tests.utils.live import ROOT

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _write_something(store: Store) -> None:
    store.people.ensure("Olive")


def test_a_new_database_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "hearth.db")
    _write_something(store)
    try:
        assert mode(data) == 0o700
        for name in ("hearth.db", "hearth.db-wal", "hearth.db-shm"):
            assert mode(data / name) == 0o600, name
    finally:
        store.close()


def test_a_database_left_readable_is_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "hearth.db")
    _write_something(store)
    store.close()
    old = os.umask(0o022)
    try:  # as an earlier version left them: world-readable
        data.chmod(0o755)
        for path in data.iterdir():
            path.chmod(0o644)
        (data / "hearth.db-wal").touch()
        (data / "hearth.db-wal").chmod(0o644)
    finally:
        os.umask(old)
    store = Store(data / "hearth.db")
    try:
        assert mode(data) == 0o700
        assert {p.name: mode(p) for p in data.iterdir() if p.name.startswith("hearth.db")} \
            == dict.fromkeys(["hearth.db", "hearth.db-wal", "hearth.db-shm"], 0o600)
        assert store.people.find_by_name("Olive") is not None  # nothing lost
    finally:
        store.close()


def test_backups_and_exports_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "hearth.db")
    _write_something(store)
    store.close()
    shelf = tmp_path / "shelf"
    copy = backup.backup(data / "hearth.db", shelf / "hearth-backup.db").path
    assert mode(copy) == 0o600
    assert mode(shelf) != 0o700  # a folder the user chose is theirs to set
    export = tmp_path / "olive.json"
    done = subprocess.run([sys.executable, "-m", "hearth", "export", "--user", "Olive",
                           "--data-dir", str(data), str(export)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert mode(export) == 0o600 and "Olive" in export.read_text()
