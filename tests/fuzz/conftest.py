"""Bad input, tried on purpose: every fuzz test counts the inputs it tries, and the
session ends with one line per test ("fuzz: N inputs tried").

The HTTP and WebSocket fuzzers get their own live server on loopback, over a fresh
data dir, so what they create never shows in other tests' server.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import settings

from hearth.api.app import create_app
from hearth.config import load_settings
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.services import Services
from tests.utils.live import ThreadServer

FUZZ_N_CTX = 2048  # the window the shared `llama` fixture was loaded with

# CI tries the same inputs on every run, so a red build is never luck; a developer's run
# tries new ones each time (and replays the failures it found, from .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


class Tally:
    """Inputs tried per test (by node id); a test calls `tally()` once per input."""

    def __init__(self) -> None:
        self.current = ""
        self.counts: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}

    def __call__(self, n: int = 1) -> None:
        self.counts[self.current] += n


_TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return _TALLY


def pytest_runtest_setup(item: pytest.Item) -> None:
    _TALLY.current = item.nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.nodeid in _TALLY.counts:
        _TALLY.seconds[report.nodeid] = report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TALLY.counts:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("-", "fuzz: inputs tried")
    for nodeid, n in _TALLY.counts.items():
        seconds = _TALLY.seconds.get(nodeid)
        took = f"{seconds:6.1f} s" if seconds is not None else "       "
        write(f"{n:7d} inputs {took}  {nodeid}")
    write(f"fuzz: {sum(_TALLY.counts.values())} inputs tried in {len(_TALLY.counts)} tests")


@pytest.fixture(scope="session")
def fuzz_headers() -> dict[str, str]:
    """Headers every fuzz request carries: the one place to add `Authorization: Bearer
    <token>` once the server asks for one (it serves loopback without tokens today)."""
    return {}


@pytest.fixture(scope="module")
def fuzz_server(
    llama: LlamaModel, embedder: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadServer]:
    """A live server of its own for each fuzz module (what one fuzzer does, say creating
    accounts, never changes what the next one meets). Replies are short and background
    jobs off, so requests that generate stay quick; speech input is capped likewise."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("fuzz-data"),
        llm={"n_ctx": FUZZ_N_CTX, "temperature": 0.0, "seed": 7, "max_reply_tokens": 16},
        memory={"background": False},
        limits={"max_speech_chars": 200, "max_audio_seconds": 10.0},
    )
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    with ThreadServer(create_app(settings, services)) as live:
        live.services = services  # type: ignore[attr-defined]
        yield live
    services.close()
