"""Shared fixtures: the real small chat model, loaded once, and a live server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hearth.api.app import create_app
from hearth.config import (
    DEFAULT_EMBEDDER_DIR,
    MULTILINGUAL_EMBEDDER_DIR,
    DEFAULT_MODEL,
    DEFAULT_STT_MODEL,
    DEFAULT_STT_MULTILINGUAL_MODEL,
    Settings,
    load_settings,
)
from hearth.engines.embed import DEFAULT_EMBEDDER, MiniLMEmbedder, OnnxEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.engines.stt import Transcriber
from hearth.services import Services
from tests.utils.live import ThreadServer
from tests.utils.speech import SpeechMaker

TEST_N_CTX = 2048
TEST_CLIENT_HOST = "testserver"  # the host name of Starlette's TestClient


def make_settings(data_dir: Path, memory: dict[str, Any] | None = None, **llm: Any) -> Settings:
    """Settings for tests: a small window and greedy decoding, so runs repeat. Starlette's
    TestClient names its server "testserver", so that name is known too (the Host checks
    are tested with names that are not). Characters do not write first on their own: what
    a test stores at past times could fall due on the wall clock mid-test; the tests of
    that schedule turn it on. Memory keeps the English embedder the `embedder` fixture holds
    (not "auto": a test in Korean would load the multilingual one); the tests of "auto"
    ask for it."""
    return load_settings(
        data_dir=data_dir,
        llm={"n_ctx": TEST_N_CTX, "temperature": 0.0, "seed": 7, "max_reply_tokens": 96, **llm},
        memory={"embedder": DEFAULT_EMBEDDER, **(memory or {})},
        server={"allowed_hosts": [TEST_CLIENT_HOST]},
        relationship={"enabled": False},
    )


@pytest.fixture(scope="session")
def llama() -> LlamaModel:
    if not DEFAULT_MODEL.is_file():
        pytest.fail(f"{DEFAULT_MODEL} is missing: run `python scripts/install_models.py`")
    return LlamaModel(DEFAULT_MODEL, n_ctx=TEST_N_CTX)


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    """The default embedder (English)."""
    if not (DEFAULT_EMBEDDER_DIR / "model.onnx").is_file():
        pytest.fail(f"{DEFAULT_EMBEDDER_DIR} is missing: run `python scripts/install_models.py`")
    return MiniLMEmbedder(DEFAULT_EMBEDDER_DIR)


@pytest.fixture(scope="session")
def multilingual_embedder() -> OnnxEmbedder:
    """multilingual-e5-small, for other languages and for switching embedders."""
    if not (MULTILINGUAL_EMBEDDER_DIR / "model.onnx").is_file():
        pytest.fail(f"{MULTILINGUAL_EMBEDDER_DIR} is missing: run "
                    "`python scripts/install_models.py`")
    return OnnxEmbedder(MULTILINGUAL_EMBEDDER_DIR, "multilingual-e5-small")


@pytest.fixture(scope="session")
def transcriber() -> Transcriber:
    if not DEFAULT_STT_MODEL.is_dir():
        pytest.fail(f"{DEFAULT_STT_MODEL} is missing: run `python scripts/install_models.py`")
    return Transcriber(DEFAULT_STT_MODEL)


@pytest.fixture(scope="session")
def multilingual_whisper() -> Transcriber:
    """The multilingual Whisper (base), loaded once."""
    if not DEFAULT_STT_MULTILINGUAL_MODEL.is_dir():
        pytest.fail(f"{DEFAULT_STT_MULTILINGUAL_MODEL} is missing: "
                    "run `python scripts/install_models.py`")
    return Transcriber(DEFAULT_STT_MULTILINGUAL_MODEL)


@pytest.fixture(scope="session")
def speech() -> SpeechMaker:
    """Phrases spoken by the default Piper voice at 16 kHz, each synthesised once."""
    return SpeechMaker()


@pytest.fixture()
def start_services(llama: LlamaModel, embedder: MiniLMEmbedder, tmp_path: Path) -> Iterator[Any]:
    """Build Services over a data dir, sharing the loaded model; closed at the end."""
    opened: list[Services] = []

    def start(data_dir: Path | None = None, memory: dict[str, Any] | None = None,
              **llm: Any) -> Services:
        settings = make_settings(data_dir or tmp_path / "data", memory, **llm)
        services = Services.start(settings, model=ModelOwner(llama, queue_size=4),
                                  embedder=embedder)
        opened.append(services)
        return services

    yield start
    for services in opened:
        services.close()


@pytest.fixture(scope="session")
def server(
    llama: LlamaModel, embedder: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadServer]:
    """One live server for the API tests (state accumulates: tests compare before/after)."""
    settings = make_settings(tmp_path_factory.mktemp("server-data"))
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    with ThreadServer(create_app(settings, services)) as live:
        live.services = services  # type: ignore[attr-defined]
        yield live
    services.close()


@pytest.fixture()
def client(server: ThreadServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c
