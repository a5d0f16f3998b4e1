"""The `hearth` command as a user runs it: serve (and restart), chat, characters."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from hearth.characters import parse_card, to_v3
from hearth.chat import ImportItem
from hearth.cli import build_parser
from hearth.cli.flags import read_settings
from hearth.config import Settings
from hearth.memory import ids as memory_ids
from hearth.memory.index import MemoryIndex
from hearth.services import seed_default_character
from hearth.store import Store
from tests.conftest import make_settings
from tests.utils.cards import as_json, rich_v3_data
from tests.utils.live import ROOT, ProcessServer


def hearth(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", *args], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, timeout=300)


def test_help_explains_every_command() -> None:
    top = hearth("--help")
    assert top.returncode == 0
    for command in ("serve", "chat", "characters", "memory", "users", "backup", "restore",
                    "export"):
        assert command in top.stdout
    serve = hearth("serve", "--help").stdout
    for flag in ("--host", "--port", "--data-dir", "--model", "--config"):
        assert flag in serve


def test_every_setting_is_a_flag() -> None:
    serve = hearth("serve", "--help").stdout
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            for sub in section.model_fields:  # [llm] n_ctx is --llm.n-ctx
                assert f"--{name}.{sub.replace('_', '-')}" in serve
        else:  # data_dir is --data-dir
            assert f"--{name.replace('_', '-')}" in serve
    r = hearth("serve", "--llm.n-ctx", "100")  # checked against the field's bounds
    assert r.returncode == 2 and "--llm.n-ctx" in r.stderr and "256" in r.stderr


def test_a_settings_flag_wins_over_the_environment_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text("[llm]\nn_ctx = 1024\ntemperature = 0.5\n[voice]\nsilence_ms = 600\n")
    monkeypatch.delenv("HEARTH_CONFIG", raising=False)  # --config sets it; undone after
    monkeypatch.setenv("HEARTH_LLM__N_CTX", "1536")
    monkeypatch.setenv("HEARTH_VOICE__SILENCE_MS", "700")
    args = build_parser().parse_args([
        "chat", "--config", str(config), "--data-dir", str(tmp_path / "data"),
        "--llm.n-ctx", "2048", "--gpu-layers", "-1", "--memory.enabled", "false",
        "--server.cors-origins", "http://a:3000", "http://b:3000",
    ])
    settings = read_settings(args)
    assert settings.llm.n_ctx == 2048  # the flag, over the environment and the file
    assert settings.voice.silence_ms == 700  # the environment, over the file
    assert settings.llm.temperature == 0.5  # the file
    assert settings.data_dir == tmp_path / "data"
    assert settings.llm.n_gpu_layers == -1 and settings.memory.enabled is False
    assert settings.server.cors_origins == ["http://a:3000", "http://b:3000"]


def test_settings_that_do_not_validate_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = str(tmp_path / "data")
    clash = hearth("users", "list", "--data-dir", data, "--llm.backend", "remote")
    assert clash.returncode == 2 and "Traceback" not in clash.stderr
    assert "llm.remote_url is empty" in clash.stderr
    monkeypatch.setenv("HEARTH_LLM__N_CTX", "5")  # the environment is checked as well
    low = hearth("users", "list", "--data-dir", data)
    assert low.returncode == 2 and "Traceback" not in low.stderr
    assert "llm.n_ctx" in low.stderr and "256" in low.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_state_survives_a_server_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ProcessServer(data, "--n-ctx", "2048") as live:
        c = httpx.Client(base_url=live.url, timeout=120)
        character = c.post("/api/characters/import",
                           files={"file": ("mira.json", as_json(to_v3(rich_v3_data())))}).json()
        conversation = c.post("/api/conversations", json={"character_id": character["id"]}).json()
        url = f"/api/conversations/{conversation['id']}/messages"
        reply = c.post(url, json={"content": "Remember the lighthouse.", "stream": False}).json()
        before = (c.get("/api/characters").json(), c.get("/api/conversations").json(),
                  c.get(url).json())
    with ProcessServer(data, "--n-ctx", "2048") as live:
        c = httpx.Client(base_url=live.url, timeout=120)
        after = (c.get("/api/characters").json(), c.get("/api/conversations").json(),
                 c.get(url).json())
    assert after == before
    assert after[2][-1]["content"] == reply["content"]


def test_characters_import_list_export(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    card = tmp_path / "mira.json"
    card.write_bytes(as_json(to_v3(rich_v3_data())))
    r = hearth("characters", "import", str(card), "--data-dir", data)
    assert r.returncode == 0, r.stderr
    listing = hearth("characters", "list", "--data-dir", data).stdout
    assert "Ember" in listing and "Mira" in listing
    mira_id = next(line.split()[0] for line in listing.splitlines() if "Mira" in line)
    png, js = tmp_path / "out.png", tmp_path / "out.json"
    assert hearth("characters", "export", mira_id, str(png), "--data-dir", data).returncode == 0
    assert hearth("characters", "export", mira_id, str(js), "--data-dir", data).returncode == 0
    assert parse_card(png.read_bytes()).data == json.loads(js.read_text())["data"]
    assert json.loads(js.read_text())["data"]["nickname"] == "Mi"

    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    r = hearth("characters", "import", str(bad), "--data-dir", data)
    assert r.returncode != 0 and "JSON" in r.stderr


def test_chat_in_the_terminal_streams_and_stores(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = hearth("chat", "--character", "ember", "--data-dir", str(data), "--n-ctx", "2048",
               stdin="Hello there!\n/quit\n")
    assert r.returncode == 0, r.stderr
    assert "Ember: " in r.stdout
    store = Store(data / "hearth.db")
    (conversation,) = store.conversations.list(user_id=store.people.ensure("User").id)
    messages = store.messages.list(conversation.id)
    assert [m.role for m in messages] == ["assistant", "user", "assistant"]
    assert messages[1].content == "Hello there!"
    assert messages[2].content and messages[2].content in r.stdout
    store.close()

    # The memory index can be rebuilt from the database at any time.
    r = hearth("memory", "reindex", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert "reindexed 3 messages" in r.stdout
    assert "3 memories indexed, 3 messages stored" in hearth(
        "memory", "status", "--data-dir", str(data)).stdout


def test_household_accounts_from_the_command_line(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    # Without accounts, Hearth will not listen beyond this box (and says what to do).
    r = hearth("serve", "--host", "0.0.0.0", "--data-dir", data)
    assert r.returncode == 2 and "hearth users init" in r.stderr

    # What the single local user said before accounts existed becomes the owner's.
    store = Store(tmp_path / "data" / "hearth.db")
    seed_default_character(store)
    local = store.people.ensure("User")
    before = store.conversations.create(user_id=local.id, character_id=1, title="t", greetings=[])
    store.close()
    r = hearth("users", "init", "Alice", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    token = r.stdout.split()[-1]
    assert token.startswith("hth_")
    assert hearth("users", "init", "Zed", "--data-dir", data).returncode == 2  # one owner
    r = hearth("users", "add", "Bob", "--password", "--data-dir", data, stdin="hunter2hunter2\n")
    assert r.returncode == 0, r.stderr
    assert hearth("users", "add", "Cy", "--password", "--data-dir", data,
                  stdin="short\n").returncode == 2
    listing = hearth("users", "list", "--data-dir", data).stdout
    assert "Alice" in listing and "owner" in listing and "Bob" in listing and "User" not in listing

    store = Store(tmp_path / "data" / "hearth.db")
    alice = store.people.get_by_name("alice")
    assert alice.is_owner and store.conversations.get(before.id, user_id=alice.id)
    assert len(store.tokens.list(alice.id)) == 1
    store.close()
    assert "revoked 1" in hearth("users", "revoke", "Alice", "--data-dir", data).stdout
    r = hearth("users", "remove", "Alice", "--data-dir", data)
    assert r.returncode == 2 and "owner" in r.stderr
    assert hearth("users", "remove", "Bob", "--data-dir", data).returncode == 0
    assert "Bob" not in hearth("users", "list", "--data-dir", data).stdout


def test_users_remove_forgets_their_memories_as_the_api_does(
    start_services: Any, embedder: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    services = start_services(data)
    alice, _ = services.accounts.init_owner("Alice")
    bob, _ = services.accounts.add_member("Bob")
    theirs: dict[str, set[str]] = {}
    for user in (alice, bob):
        conversation = services.chat.start_conversation(user, 1)
        ids = services.chat.import_messages(user, conversation.id, [
            ImportItem("user", f"{user.name} keeps bees on the roof.", time.time())])
        fact = services.memory.add_fact(user_id=user.id, character_id=1,
                                        text=f"{user.name} keeps bees.",
                                        source_message_ids=ids, said_at=time.time())
        assert fact is not None
        messages = services.store.messages.list(conversation.id)
        theirs[user.name] = {memory_ids.message(m.id) for m in messages} | {
            memory_ids.fact(fact.id)}
    before = services.memory.index.indexed_ids()
    assert theirs["Alice"] | theirs["Bob"] <= before
    services.close()

    r = hearth("users", "remove", "Bob", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert "removed Bob and their 2 messages" in r.stdout

    index = MemoryIndex(make_settings(data).index_path, embedder)
    try:
        # Bob's messages and facts left the index at once, not at the server's next start.
        assert index.indexed_ids() == before - theirs["Bob"]
    finally:
        index.close()


def test_me_sets_the_profile_from_the_command_line(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    r = hearth("me", "set", "--display-name", "Caroline", "--pronouns", "she/her",
               "--persona", "A nurse in Busan.", "--timezone", "Asia/Seoul", "--language", "ko",
               "--reach-out", "off", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    assert "Caroline" in r.stdout and "Asia/Seoul" in r.stdout
    r = hearth("me", "set", "--display-name", "Mallory", "--timezone", "Mars/Base",
               "--data-dir", data)
    assert r.returncode == 2 and r.stderr.startswith("hearth: timezone: ")
    shown = hearth("me", "show", "--data-dir", data).stdout
    assert "Caroline" in shown and "Mallory" not in shown and "reach out:     off" in shown

    # With accounts, the owner sets a member's profile with --user.
    assert hearth("users", "init", "Alice", "--data-dir", data).returncode == 0
    assert hearth("users", "add", "Bob", "--data-dir", data).returncode == 0
    r = hearth("me", "set", "--user", "Bob", "--display-name", "Bobby", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    store = Store(tmp_path / "data" / "hearth.db")
    alice, bob = store.people.get_by_name("Alice"), store.people.get_by_name("Bob")
    assert bob.shown_name == "Bobby"
    assert alice.shown_name == "Caroline" and alice.timezone == "Asia/Seoul"  # kept by init
    store.close()
    assert "no user named 'Zed'" in hearth("me", "show", "--user", "Zed", "--data-dir",
                                           data).stderr


def test_chat_shows_a_message_the_character_starts_and_prompts_again(
    start_services: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import builtins
    import queue
    from hearth.cli.conversation import _typed_turns

    services = start_services()
    user = services.user
    conversation = services.chat.start_conversation(user, services.store.characters.list()[0].id)
    typed: queue.Queue[str] = queue.Queue()  # the keyboard: lines typed, one at a time

    def keyboard(prompt: str) -> str:
        sys.stdout.write(prompt)
        return typed.get(timeout=120)

    monkeypatch.setattr(builtins, "input", keyboard)
    shown: list[str] = []

    def screen() -> str:
        shown.append(capsys.readouterr().out)
        return "".join(shown)

    async def main() -> None:
        chatting = asyncio.create_task(_typed_turns(services, user, conversation.id, "Ember"))
        while not services.feed.listeners(user.id) or not screen().endswith("You: "):
            await asyncio.sleep(0.02)
        services.chat._stored(user.id, services.store.messages.add(  # no reason: not shown
            conversation_id=conversation.id, role="assistant", content="An ordinary reply."))
        services.chat._stored(user.id, services.store.messages.add(
            conversation_id=conversation.id, role="assistant", content="How did the exam go?",
            reason={"kind": "follow_up", "about": [], "due": 0.0}))
        while "How did the exam go?" not in screen():
            await asyncio.sleep(0.02)
        typed.put("/quit")
        await chatting

    asyncio.run(main())
    text = "".join(shown) + capsys.readouterr().out
    assert "\rEmber: How did the exam go?\n\nYou: " in text  # on its own line, then the prompt
    assert "An ordinary reply." not in text
