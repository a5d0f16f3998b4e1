"""Memory fixtures: an index in a fresh directory (the embedder comes from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hearth.engines.embed import MiniLMEmbedder
from hearth.memory.index import MemoryIndex


@pytest.fixture()
def index(tmp_path: Path, embedder: MiniLMEmbedder) -> MemoryIndex:
    # A parent that does not exist yet, as on a first start.
    return MemoryIndex(tmp_path / "data" / "chroma", embedder)
