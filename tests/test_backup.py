"""`hearth backup`, `restore` and `export`, against a live server where it matters."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import aclosing, closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hearth import backup as backups
from hearth.api.app import create_app
from hearth.chat import ReplyDelta
from hearth.errors import Conflict, HearthError
from hearth.memory import ids as memory_ids
from hearth.memory.index import Stamp
from hearth.memory.service import database_generation
from hearth.services import Services
from tests.utils.cards import rich_v3_data
from tests.utils.live import ROOT, ThreadServer

BATCH = 10  # messages per import: one transaction each


def hearth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", *args], text=True,
                          capture_output=True, cwd=ROOT, timeout=300)


def rows(path: Path) -> list[tuple[int, int, str]]:
    """(id, conversation id, swipes JSON) of every message in a database file, read-only."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute("SELECT id, conversation_id, swipes FROM messages ORDER BY id").fetchall()


def batch(tag: str, n: int) -> dict[str, Any]:
    base = time.time() - 3600
    return {"messages": [{"role": "user" if i % 2 == 0 else "assistant",
                          "content": f"{tag} line {i}: the ferry leaves at {i} o'clock.",
                          "created_at": base + i} for i in range(n)]}


def index_matches_store(services: Services) -> bool:
    """The index was fully built from the database's current data, and has every message."""
    memory = services.memory
    assert memory is not None
    # The stamp first: it is written last, so no rebuild is running once it matches.
    if memory.index.stamp() != Stamp(database_generation(services.store),
                                     embedder=memory.embedder.name):
        return False
    want = {memory_ids.message(i) for i in services.store.messages.ids()}
    return memory.index.indexed_ids("message") == want


def test_backup_and_restore_while_the_server_runs_and_writes(start_services: Any,
                                                             tmp_path: Path) -> None:
    services = start_services(memory={"background": False})
    data = services.settings.data_dir
    backup_file = tmp_path / "hearth-backup.db"
    with ThreadServer(create_app(services.settings, services)) as live, \
            httpx.Client(base_url=live.url, timeout=120) as c:
        character_id = c.get("/api/characters").json()[0]["id"]
        kept = c.post("/api/conversations", json={"character_id": character_id}).json()
        kept_url = f"/api/conversations/{kept['id']}/messages"
        said = {"messages": [{"role": "user", "content": "The spare key is in the teapot.",
                              "created_at": time.time() - 7200}]}
        assert c.post(f"/api/conversations/{kept['id']}/import", json=said).status_code == 201

        # A writer keeps adding whole batches while the backup is taken.
        stop, imported = threading.Event(), []

        def write() -> None:
            with httpx.Client(base_url=live.url, timeout=120) as w:
                while not stop.is_set():
                    r = w.post(f"/api/conversations/{kept['id']}/import",
                               json=batch(f"during {len(imported)}", BATCH))
                    assert r.status_code == 201, r.text
                    imported.append(r.json()["message_ids"])

        writer = threading.Thread(target=write)
        writer.start()
        try:
            while len(imported) < 2:
                time.sleep(0.05)
            made = hearth("backup", str(backup_file), "--data-dir", str(data))
            time.sleep(0.3)
        finally:
            stop.set()
            writer.join()
        assert made.returncode == 0, made.stderr
        assert "integrity checked" in made.stdout and "not in it" in made.stdout
        assert len(imported) >= 3, "the writer should have gone on during the backup"

        # The copy is one moment's data: whole batches only, each as stored.
        snapshot = backups.check_database(backup_file)
        saved = rows(backup_file)
        live_rows = {r[0]: r for r in rows(data / "hearth.db")}
        assert all(live_rows[r[0]] == r for r in saved)
        saved_ids = {r[0] for r in saved}
        for ids in imported:
            assert set(ids) <= saved_ids or not set(ids) & saved_ids, "a batch was split"
        assert snapshot.messages == len(saved) >= 2 + 2 * BATCH
        assert Path(str(backup_file) + "-wal").exists() is False  # one self-contained file

        again = hearth("backup", str(backup_file), "--data-dir", str(data))
        assert again.returncode == 2
        assert "already exists" in again.stderr and "--force" in again.stderr

        # After the backup: a new conversation and more messages, all to be undone.
        later = c.post("/api/conversations", json={"character_id": character_id}).json()
        r = c.post(f"/api/conversations/{later['id']}/import", json=batch("after", 6))
        assert r.status_code == 201
        assert services.memory is not None
        deadline = time.monotonic() + 60
        while not index_matches_store(services):
            assert time.monotonic() < deadline, "the index did not catch up before the restore"
            time.sleep(0.2)
        generation = database_generation(services.store)

        done = hearth("restore", str(backup_file), "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
        assert "kept in" in done.stdout

        # The running server serves the restored data at once...
        conversations = c.get("/api/conversations").json()
        assert [x["id"] for x in conversations] == [kept["id"]]
        messages = c.get(kept_url).json()
        assert [m["id"] for m in messages] == [r[0] for r in saved]
        assert messages[1]["content"] == "The spare key is in the teapot."
        assert c.get(f"/api/conversations/{later['id']}/messages").status_code == 404
        assert database_generation(services.store) != generation

        # ...and rebuilds its index from it in the background.
        deadline = time.monotonic() + 60
        while not index_matches_store(services):
            assert time.monotonic() < deadline, "the index was not rebuilt after the restore"
            time.sleep(0.2)

        # The data it replaced was kept, and the server goes on writing and indexing.
        (previous,) = data.glob("hearth-before-restore-*.db")
        assert backups.check_database(previous).conversations == 2
        r = c.post(f"/api/conversations/{kept['id']}/import", json=batch("restored", 2))
        assert r.status_code == 201
        assert [m["id"] for m in c.get(kept_url).json()][-2:] == r.json()["message_ids"]
        assert index_matches_store(services)


def test_restore_refuses_what_is_not_a_sound_hearth_backup(start_services: Any,
                                                           tmp_path: Path) -> None:
    services = start_services(memory={"background": False})
    data, store = services.settings.data_dir, services.store
    conversation = services.chat.start_conversation(services.user, 1)
    store.messages.add(conversation_id=conversation.id, role="user", content="Keep me.")
    good = tmp_path / "good.db"
    backups.backup(data / "hearth.db", good)
    before = rows(data / "hearth.db"), database_generation(store)

    junk = tmp_path / "notes.txt"
    junk.write_text("this is not a database\n" * 200)
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.db"
    with closing(sqlite3.connect(foreign)) as db:
        db.execute("CREATE TABLE recipes (name TEXT)")
        db.commit()
    empty = tmp_path / "empty.db"
    empty.touch()

    r = hearth("restore", str(junk), "--data-dir", str(data))
    assert r.returncode == 2 and "not a Hearth backup" in r.stderr and "hearth backup" in r.stderr
    for bad, says in ((truncated, "malformed"), (foreign, "not a Hearth one"), (empty, "empty"),
                      (tmp_path / "missing.db", "no file")):
        with pytest.raises(HearthError, match=says):
            backups.restore(data / "hearth.db", bad)

    assert (rows(data / "hearth.db"), database_generation(store)) == before
    assert not list(data.glob("hearth-before-restore-*")) and not list(data.glob(".restore-*"))
    assert [m.content for m in store.messages.list(conversation.id)][-1] == "Keep me."


def test_export_holds_one_persons_data_and_nobody_elses(start_services: Any,
                                                        tmp_path: Path) -> None:
    services = start_services(memory={"background": False})
    data, store = services.settings.data_dir, services.store
    me = services.user
    ember = store.characters.list()[0]
    mine = services.chat.start_conversation(me, ember.id)
    said = store.messages.add(conversation_id=mine.id, role="user",
                              content="I grow tomatoes on my balcony.")
    reply = store.messages.add(conversation_id=mine.id, role="assistant", content="Tomatoes!")
    store.messages.add_swipe(reply.id, content="What kind of tomatoes?", status="interrupted")
    store.summaries.set(mine.id, text="User grows tomatoes.", upto_message_id=reply.id)
    store.facts.add(user_id=me.id, character_id=ember.id, text="User grows tomatoes.",
                    source_message_ids=[said.id], said_at=said.created_at)

    # Someone else, with a character only they talk to, a password and a token.
    bob = store.people.create("Bob", role="member", password_hash="scrypt$c2FsdA==$aGFzaA==")
    store.tokens.add(bob.id, kind="api", label="phone", digest="d1g3st" * 8, expires_at=None)
    mira = store.characters.create(data=rich_v3_data(), avatar=None)
    for character in (ember, mira):
        theirs = services.chat.start_conversation(bob, character.id)
        secret = store.messages.add(conversation_id=theirs.id, role="user",
                                    content="Bob's secret: the safe code is heron-4711.")
        store.summaries.set(theirs.id, text="Bob has a safe.", upto_message_id=secret.id)
    store.facts.add(user_id=bob.id, character_id=mira.id, text="Bob owns a safe.",
                    source_message_ids=[], said_at=time.time())

    r = hearth("export", "--user", me.name, "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    exported = json.loads(r.stdout)
    assert exported["format"] == "hearth-export"
    assert exported["user"]["name"] == me.name and "password" not in json.dumps(exported["user"])
    assert exported["characters"] == [{"id": ember.id, "name": ember.name}]
    (conversation,) = exported["conversations"]
    assert conversation["id"] == mine.id
    assert conversation["summary"]["text"] == "User grows tomatoes."
    contents = [m["content"] for m in conversation["messages"]]
    assert contents[-2:] == ["I grow tomatoes on my balcony.", "What kind of tomatoes?"]
    last = conversation["messages"][-1]
    assert last["swipes"] == ["Tomatoes!", "What kind of tomatoes?"] and last["swipe_index"] == 1
    assert last["status"] == "interrupted"
    assert [f["text"] for f in exported["facts"]] == ["User grows tomatoes."]
    for foreign in ("Bob", "heron-4711", "has a safe", "owns a safe", mira.name, "scrypt",
                    "d1g3st"):
        assert foreign not in r.stdout

    # Bob's own export is his alone; to a file, which is not overwritten without --force.
    out = tmp_path / "bob.json"
    assert hearth("export", "--user", "bob", str(out), "--data-dir", str(data)).returncode == 0
    bobs = json.loads(out.read_text())
    assert sorted(c["name"] for c in bobs["characters"]) == sorted([ember.name, mira.name])
    assert "tomatoes" not in out.read_text() and "scrypt" not in out.read_text()
    r = hearth("export", "--user", "bob", str(out), "--data-dir", str(data))
    assert r.returncode == 2 and "already exists" in r.stderr
    r = hearth("export", "--user", "nobody", "--data-dir", str(data))
    assert r.returncode == 2 and "no user named 'nobody'" in r.stderr


def test_a_stale_index_never_recalls_another_users_messages(start_services: Any) -> None:
    """Just after a restore the index may still name ids that SQLite now gives to
    someone else: recall reads the owner from SQLite and drops them."""
    services = start_services(memory={"background": False})
    store, memory = services.store, services.memory
    assert memory is not None
    me, bob = services.user, store.people.create("Bob", role="member", password_hash=None)
    mine = services.chat.start_conversation(me, 1)
    said = store.messages.add(conversation_id=mine.id, role="user",
                              content="The lighthouse key hangs behind the blue door.")
    memory.index_messages([said.id])
    # What a restore can do: the same id, now Bob's, while the index still says it is mine.
    with closing(sqlite3.connect(services.settings.db_path)) as db:
        bobs = store.conversations.create(user_id=bob.id, character_id=1, title="Bob",
                                          greetings=[])
        db.execute("UPDATE messages SET conversation_id = ? WHERE id = ?", (bobs.id, said.id))
        db.commit()
    found = memory.recall("Where does the lighthouse key hang?", user_id=me.id, character_id=1,
                          now=datetime.now(UTC), exclude=set(),
                          names=(me.name, "Ember"))
    assert all("lighthouse" not in m.text for m in found)


def test_an_index_from_before_a_restore_is_rebuilt_at_the_next_start(start_services: Any,
                                                                      tmp_path: Path) -> None:
    services = start_services(memory={"background": False})
    store, memory, user = services.store, services.memory, services.user
    assert memory is not None
    conversation = services.chat.start_conversation(user, 1)
    db = services.settings.db_path
    backups.backup(db, tmp_path / "before.db")
    later = services.chat.start_conversation(user, 1)
    store.messages.add(conversation_id=later.id, role="user", content="Only after the backup.")
    assert memory.sync() == 1  # start-up on an index that is merely behind: catch up

    backups.restore(db, tmp_path / "before.db")  # as with no server running
    assert not index_matches_store(services)
    assert memory.sync() == len(store.messages.ids())  # what the next start runs: a rebuild
    assert index_matches_store(services)
    assert {m.id for m in store.messages.list(conversation.id)} == set(store.messages.ids())

    # A rebuild cut short (say, by a crash) is done again at the next start.
    memory.index.set_stamp(Stamp(database_generation(store), complete=False,
                                 embedder=memory.embedder.name))
    assert memory.sync() == len(store.messages.ids())
    assert memory.sync() == 0 and index_matches_store(services)


def test_a_reply_written_across_a_restore_is_not_stored(start_services: Any,
                                                        tmp_path: Path) -> None:
    services = start_services(memory={"background": False})
    user, db = services.user, services.settings.db_path
    conversation = services.chat.start_conversation(user, 1)
    backups.backup(db, tmp_path / "before.db")

    async def turn() -> int:
        deltas = 0
        events = services.chat.send(user, conversation.id, "Tell me a long story about a fox.")
        async with aclosing(events):
            async for event in events:
                if isinstance(event, ReplyDelta):
                    deltas += 1
                    if deltas == 3:
                        await asyncio.to_thread(backups.restore, db, tmp_path / "before.db")
        return deltas

    with pytest.raises(Conflict, match="restored from a backup"):
        asyncio.run(turn())
    (greeting,) = services.store.messages.list(conversation.id)  # the backup's, nothing more
    assert greeting.role == "assistant"
