"""Memory fixtures: the real embedder, loaded once, and an index in a fresh directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from hearth.engines.embed import (
    DEFAULT_EMBEDDER_DIR,
    MiniLMEmbedder,
    disable_onnxruntime_telemetry,
)
from hearth.memory.index import MemoryIndex

# At collection, before any test can import onnxruntime.
disable_onnxruntime_telemetry()


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    if not (DEFAULT_EMBEDDER_DIR / "model.onnx").is_file():
        pytest.fail(f"{DEFAULT_EMBEDDER_DIR} is missing: run `python scripts/install_models.py`")
    return MiniLMEmbedder(DEFAULT_EMBEDDER_DIR)


@pytest.fixture()
def index(tmp_path: Path, embedder: MiniLMEmbedder) -> MemoryIndex:
    # A parent that does not exist yet, as on a first start.
    return MemoryIndex(tmp_path / "data" / "chroma", embedder)
