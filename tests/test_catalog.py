"""`hearth models` and `hearth voices`: list, add (checked first), and use, live on a server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hearth.api.app import create_app
from hearth.cli import main
from hearth.config import (
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    DEFAULT_VOICES_DIR,
    MemorySettings,
    load_settings,
)
from hearth.context import ContextBuilder
from hearth.engines.llm import (
    ChatMessage,
    Finished,
    LlamaModel,
    ModelOwner,
    SamplingParams,
    Token,
)
from hearth.services import Services
from tests.conftest import make_settings
from tests.utils.live import ThreadServer, sse_events


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture()
def hearth(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """The `hearth` command, run in this process (the same `main` as the console script)."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture()
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A models and a voices folder of our own, so the installed ones are never touched."""
    paths = {"models": tmp_path / "models", "voices": tmp_path / "voices"}
    for path in paths.values():
        path.mkdir()
    monkeypatch.setenv("HEARTH_LLM__MODELS_DIR", str(paths["models"]))
    monkeypatch.setenv("HEARTH_VOICE__VOICES_DIR", str(paths["voices"]))
    return paths


@contextmanager
def live_server(llama: LlamaModel, data: Path) -> Iterator[ThreadServer]:
    """A server with its own model owner (over the shared model) and no memory."""
    settings = make_settings(data, memory={"enabled": False}, max_reply_tokens=24)
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4))
    try:
        with ThreadServer(create_app(settings, services)) as live:
            live.services = services  # type: ignore[attr-defined]
            yield live
    finally:
        services.close()


def patched_copy(dest: Path, old: bytes, new: bytes) -> Path:
    """A copy of the default model with one same-length byte string changed in its header."""
    assert len(old) == len(new)
    shutil.copyfile(DEFAULT_MODEL, dest)
    with dest.open("r+b") as f:
        at = f.read(4 << 20).index(old)
        f.seek(at)
        f.write(new)
    return dest


def gguf_string(key: str, value: str) -> bytes:
    raw = value.encode()
    return struct.pack("<Q", len(key)) + key.encode() + struct.pack("<IQ", 8, len(raw)) + raw


def test_list_shows_the_installed_default(hearth: Callable[..., Ran]) -> None:
    r = hearth("models", "list")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if DEFAULT_MODEL.stem in x)
    assert line.startswith("*")  # the model in use
    for shown in ("llama", "135M", "Q4_1", "8,192", "template yes"):
        assert shown in line
    r = hearth("voices", "list")
    assert r.returncode == 0, r.stderr
    assert any(x.startswith("*") and DEFAULT_VOICE in x and "22050 Hz" in x
               for x in r.stdout.splitlines())


def test_add_checks_the_file_and_shows_its_metadata(
        tmp_path: Path, folders: dict[str, Path], hearth: Callable[..., Ran]) -> None:
    models = folders["models"]
    r = hearth("models", "add", str(DEFAULT_MODEL), "--name", "smol-copy")
    assert r.returncode == 0, r.stderr
    for shown in ("smol-copy", "architecture llama", "135M parameters", "Q4_1",
                  "trained context 8,192", "chat template yes", "hearth models use smol-copy"):
        assert shown in r.stdout
    added = models / "smol-copy.gguf"
    assert added.read_bytes()[:4] == b"GGUF"
    assert added.stat().st_size == DEFAULT_MODEL.stat().st_size
    listing = hearth("models", "list").stdout
    assert "smol-copy" in listing and DEFAULT_MODEL.stem in listing

    # Same name again: refused.
    r = hearth("models", "add", str(DEFAULT_MODEL), "--name", "smol-copy")
    assert r.returncode == 2 and "already installed" in r.stderr

    # Not a GGUF, an architecture llama.cpp does not know, no chat template, cut short:
    # each refused with what to do, and the folder is as it was.
    before = sorted(p.name for p in models.iterdir())
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    unknown = patched_copy(tmp_path / "unknown.gguf", gguf_string("general.architecture",
                           "llama"), gguf_string("general.architecture", "llamx"))
    untemplated = patched_copy(tmp_path / "base.gguf", b"tokenizer.chat_template",
                               b"tokenizer.chat_templatX")
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(DEFAULT_MODEL.read_bytes()[: 50 << 20])
    for path, why in ((text, "is not a GGUF model file"), (unknown, "architecture 'llamx'"),
                      (untemplated, "has no chat template"), (truncated, "download it again")):
        r = hearth("models", "add", str(path))
        assert r.returncode == 2, r.stdout
        assert why in r.stderr
        assert sorted(p.name for p in models.iterdir()) == before
    r = hearth("models", "add", str(untemplated), "--allow-no-template")
    assert r.returncode == 0, r.stderr
    assert "chat template NONE (falls back to ChatML)" in r.stdout


def test_add_downloads_a_url_with_a_progress_bar(folders: dict[str, Path],
                                                 hearth: Callable[..., Ran]) -> None:
    """The download path, on a file:// URL (never the network in tests)."""
    url = DEFAULT_MODEL.resolve().as_uri()
    r = hearth("models", "add", url, "--name", "fetched")
    assert r.returncode == 0, r.stderr
    assert "downloaded" in r.stdout
    assert "fetched" in r.stdout and "%" in r.stderr  # tqdm's bar
    assert sorted(p.name for p in folders["models"].iterdir()) == ["fetched.gguf"]  # no leftovers


def test_use_switches_a_running_server_live(tmp_path: Path, folders: dict[str, Path],
                                            hearth: Callable[..., Ran],
                                            llama: LlamaModel) -> None:
    assert hearth("models", "add", str(DEFAULT_MODEL), "--name", "other").returncode == 0
    data = tmp_path / "data"
    with live_server(llama, data) as live:
        c = httpx.Client(base_url=live.url, timeout=120)
        assert c.get("/api/health").json()["model"] == DEFAULT_MODEL.name
        conversation = c.post("/api/conversations", json={"character_id": 1}).json()
        url = f"/api/conversations/{conversation['id']}/messages"
        first = c.post(url, json={"content": "Hello there!", "stream": False})
        assert first.status_code == 200, first.text

        r = hearth("models", "use", "other", "--data-dir", str(data))
        assert r.returncode == 0, r.stderr
        assert "switches to it within seconds" in r.stdout
        deadline = time.monotonic() + 60
        while c.get("/api/health").json()["model"] != "other.gguf":
            assert time.monotonic() < deadline, "the server did not switch"
            time.sleep(0.2)

        # A turn on the new model, streamed, in the conversation the old one started.
        with c.stream("POST", url, json={"content": "What did I just say?"}) as response:
            events = list(sse_events(response))
        assert [e for e, _ in events][0] == "start" and events[-1][0] == "message", events
        reply = events[-1][1]
        assert reply["content"].strip()
        # The conversation's cache went with the old model: the prompt was evaluated afresh.
        assert reply["usage"]["prompt_tokens_reused"] == 0
        assert c.get("/api/health").json()["model"] == "other.gguf"

        # A bad choice changes nothing.
        r = hearth("models", "use", "missing", "--data-dir", str(data))
        assert r.returncode == 2 and "installed: other" in r.stderr
        time.sleep(2.5)  # a poll of the choice later
        assert c.get("/api/health").json()["model"] == "other.gguf"
        # The switch is a live choice: the settings stay as they were built.
        assert live.services.settings.llm.model_path == DEFAULT_MODEL  # type: ignore[attr-defined]
    # The choice holds for the next start too (it is a settings layer of this data dir).
    assert load_settings(data_dir=data).llm.model_path == (folders["models"] / "other.gguf"
                                                           ).resolve()
    assert json.loads((data / "choices.json").read_text())["llm"]["model_path"].endswith(
        "other.gguf")


def test_voices_add_and_use(tmp_path: Path, folders: dict[str, Path],
                            hearth: Callable[..., Ran], llama: LlamaModel) -> None:
    voices = folders["voices"]
    source = DEFAULT_VOICES_DIR / f"{DEFAULT_VOICE}.onnx"
    r = hearth("voices", "add", str(source), "--name", "joe-two")
    assert r.returncode == 0, r.stderr
    assert "joe-two (en_US, 22050 Hz)" in r.stdout
    assert sorted(p.name for p in voices.iterdir()) == ["joe-two.onnx", "joe-two.onnx.json"]
    assert "joe-two" in hearth("voices", "list").stdout

    # Broken voices: refused, nothing installed.
    broken = tmp_path / "broken"
    broken.mkdir()
    lonely = broken / "lonely.onnx"  # no config beside it
    os.link(source, lonely)
    garbage = broken / "garbage.onnx"  # a config, but the model is not ONNX
    garbage.write_bytes(b"\0" * 1024)
    shutil.copyfile(source.with_name(source.name + ".json"), broken / "garbage.onnx.json")
    odd = broken / "odd.onnx"  # a model, but a config with a phoneme type Piper lacks
    os.link(source, odd)
    config = json.loads(source.with_name(source.name + ".json").read_text())
    (broken / "odd.onnx.json").write_text(json.dumps({**config, "phoneme_type": "morse"}))
    for path, why in ((lonely, "lonely.onnx.json is missing"),
                      (garbage, "not an ONNX model"), (odd, "morse")):
        r = hearth("voices", "add", str(path))
        assert r.returncode == 2, r.stdout
        assert why in r.stderr
    assert sorted(p.name for p in voices.iterdir()) == ["joe-two.onnx", "joe-two.onnx.json"]

    data = tmp_path / "data"
    with live_server(llama, data) as live:
        assert httpx.get(live.url + "/api/health").json()["voice"] == DEFAULT_VOICE
        r = hearth("voices", "use", "nobody", "--data-dir", str(data))
        assert r.returncode == 2 and "installed voices: joe-two" in r.stderr
        r = hearth("voices", "use", "joe-two", "--data-dir", str(data))
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 30
        while httpx.get(live.url + "/api/health").json()["voice"] != "joe-two":
            assert time.monotonic() < deadline, "the server did not take the new voice"
            time.sleep(0.2)
        settings = live.services.settings  # type: ignore[attr-defined]
        assert settings.voice.default_voice == DEFAULT_VOICE  # a live choice, not a setting
        # Speech in the default voice now comes from joe-two, the only voice in the folder.
        speech = httpx.post(live.url + "/v1/audio/speech", timeout=120,
                            json={"input": "Hello.", "voice": "alloy", "response_format": "wav"})
        assert speech.status_code == 200, speech.text
        assert speech.content[:4] == b"RIFF"


def test_what_was_prepared_for_the_old_model_is_redone_after_a_switch(llama: LlamaModel) -> None:
    """A prompt that waited in the queue while the model was switched is rendered again by
    the new model, and the context builder forgets the old tokenizer's counts."""
    owner = ModelOwner(llama)
    builder = ContextBuilder(owner, reply_reserve=64, memory=MemorySettings())
    waiting = owner.render([ChatMessage("user", "Hello!")])
    assert builder._count("a line of memory") > 0
    assert owner.swap(llama) is llama and owner.generation == 1
    again = owner._current(waiting)
    assert again is not waiting and again.generation == 1 and again.tokens == waiting.tokens
    assert owner._current(again) is again
    builder._follow_model()
    assert builder._count.cache_info().currsize == 0


def test_a_switch_waits_for_the_reply_being_generated(llama: LlamaModel) -> None:
    async def run() -> list[Token | Finished]:
        owner = ModelOwner(llama)
        prompt = owner.render([ChatMessage("user", "Count to ten.")])
        stream = owner.stream(prompt, SamplingParams(max_tokens=16, temperature=0.0))
        items = [await anext(stream)]  # generating: the model is taken
        swap = asyncio.create_task(asyncio.to_thread(owner.swap, llama))
        await asyncio.sleep(0.3)
        assert not swap.done() and owner.generation == 0
        items += [item async for item in stream]
        await asyncio.wait_for(swap, 30)
        assert owner.generation == 1
        return items

    items = asyncio.run(run())
    assert isinstance(items[-1], Finished) and items[-1].usage.finish_reason in ("stop", "length")
    assert all(isinstance(i, Token) for i in items[:-1])
