"""Memory fixtures: an index in a fresh directory, embedded or on a Chroma server started
once per session (the embedder comes from tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hearth.engines.embed import MiniLMEmbedder
from hearth.memory.index import MemoryIndex
from tests.utils.live import BackendServer, chroma_server


@pytest.fixture(scope="session")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    """`chroma run` on loopback; each test takes a database of its own on it."""
    root = tmp_path_factory.mktemp("chroma-server")
    with chroma_server(root / "data", root / "chroma.log") as server:
        yield server


def fresh_database() -> str:
    return f"t{uuid.uuid4().hex}"


@pytest.fixture(params=["embedded", "server"])
def index(request: pytest.FixtureRequest, tmp_path: Path, embedder: MiniLMEmbedder
          ) -> MemoryIndex:
    # A parent that does not exist yet, as on a first start.
    path = tmp_path / "data" / "chroma"
    if request.param == "embedded":
        return MemoryIndex(path, embedder)
    chroma: BackendServer = request.getfixturevalue("chroma")
    return MemoryIndex(path, embedder, url=chroma.url, database=fresh_database())
