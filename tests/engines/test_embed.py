"""The MiniLM embedder on the real model files: unit float32 rows, order kept, batch-invariant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hearth.config import DEFAULT_EMBEDDER_DIR
from hearth.engines.embed import MiniLMEmbedder, disable_onnxruntime_telemetry

# At collection, before any test can import onnxruntime.
disable_onnxruntime_telemetry()


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    if not (DEFAULT_EMBEDDER_DIR / "model.onnx").is_file():
        pytest.fail(f"{DEFAULT_EMBEDDER_DIR} is missing: run `python scripts/install_models.py`")
    return MiniLMEmbedder(DEFAULT_EMBEDDER_DIR, batch_size=4)


TEXTS = [
    "hi",
    "My sister Anna is getting married in June.",
    "The cat, Miso, knocked a glass off the kitchen table again this morning and then hid "
    "under the sofa for the rest of the day as if nothing had happened.",
    "",
    "I started learning Korean last week.",
    "ok",
    "We drove to Lisbon for the weekend and ate far too many pastries.",
]


def test_shape_dtype_and_unit_norm(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim) == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrase_is_closer_than_an_unrelated_sentence(embedder: MiniLMEmbedder) -> None:
    anchor, paraphrase, unrelated = embedder.embed(
        [
            "My sister is getting married next summer.",
            "Next summer my sister will have her wedding.",
            "The stock market fell sharply on Tuesday.",
        ]
    )
    assert anchor @ paraphrase > 0.7
    assert anchor @ paraphrase > anchor @ unrelated + 0.3


def test_batch_equals_one_by_one_and_keeps_order(embedder: MiniLMEmbedder) -> None:
    # batch_size=4 with mixed lengths: texts are sorted by length into several batches.
    batched = embedder.embed(TEXTS)
    single = np.vstack([embedder.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-4)
    reversed_ = embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(reversed_[::-1], batched, atol=1e-4)


def test_duplicates_and_long_texts_are_fine(embedder: MiniLMEmbedder) -> None:
    long_text = "word " * 2000  # far past max_length: truncated, not an error
    vectors = embedder.embed([long_text, "same", "same"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(vectors[1], vectors[2], atol=1e-6)


def test_empty_input(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_a_bare_string_is_rejected(embedder: MiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("hello")  # type: ignore[arg-type]


def test_missing_model_dir_names_the_installer(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="install_models.py"):
        MiniLMEmbedder(tmp_path / "nope")
