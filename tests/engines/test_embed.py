"""The embedders on the real model files: unit float32 rows, order kept, batch-invariant;
the multilingual one tells Korean topics apart, and each brings its own thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hearth.config import DEFAULT_EMBEDDER_DIR, MODELS_DIR, MULTILINGUAL_EMBEDDER_DIR
from hearth.engines.embed import (
    PROFILES,
    MiniLMEmbedder,
    OnnxEmbedder,
    disable_onnxruntime_telemetry,
    load_embedder,
)

# At collection, before any test can import onnxruntime.
disable_onnxruntime_telemetry()


@pytest.fixture(scope="module", params=["multilingual-e5-small", "all-MiniLM-L6-v2"])
def embedder(request: pytest.FixtureRequest) -> OnnxEmbedder:
    """Each embedder, with small batches (so a list spans several)."""
    folder = MODELS_DIR / PROFILES[request.param].folder
    if not (folder / "model.onnx").is_file():
        pytest.fail(f"{folder} is missing: run `python scripts/install_models.py`")
    return OnnxEmbedder(folder, request.param, batch_size=4)


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


def test_shape_dtype_and_unit_norm(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim) == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrase_is_closer_than_an_unrelated_sentence(embedder: OnnxEmbedder) -> None:
    anchor, paraphrase, unrelated = embedder.embed(
        [
            "My sister is getting married next summer.",
            "Next summer my sister will have her wedding.",
            "The stock market fell sharply on Tuesday.",
        ]
    )
    assert anchor @ paraphrase > 0.7
    # e5's cosines sit higher and closer together (unrelated ~0.75) than MiniLM's (~0.1).
    assert anchor @ paraphrase > anchor @ unrelated + (0.3 if "MiniLM" in embedder.name else 0.1)


def test_batch_equals_one_by_one_and_keeps_order(embedder: OnnxEmbedder) -> None:
    # batch_size=4 with mixed lengths: texts are sorted by length into several batches.
    batched = embedder.embed(TEXTS)
    single = np.vstack([embedder.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-4)
    reversed_ = embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(reversed_[::-1], batched, atol=1e-4)


def test_duplicates_and_long_texts_are_fine(embedder: OnnxEmbedder) -> None:
    long_text = "word " * 2000  # far past max_length: truncated, not an error
    vectors = embedder.embed([long_text, "same", "same"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(vectors[1], vectors[2], atol=1e-6)


def test_empty_input(embedder: OnnxEmbedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_a_bare_string_is_rejected(embedder: OnnxEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("hello")  # type: ignore[arg-type]


def test_missing_model_dir_names_the_installer(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="install_models.py"):
        MiniLMEmbedder(tmp_path / "nope")


# Four topics, each said twice in different words (particles and endings differ).
KOREAN = [
    ("내 고양이 이름은 나비야.", "우리 집 고양이는 나비라고 불러."),
    ("다음 달에 부산으로 이사 가.", "나 다음 달에 부산으로 이사해."),
    ("어제 회사에서 면접을 봤어.", "어제 그 회사 면접 보고 왔어."),
    ("주말마다 한강에서 자전거를 타.", "나는 주말이면 한강에서 자전거 타는 걸 좋아해."),
]


def korean_similarities(embedder: OnnxEmbedder) -> tuple[np.ndarray, np.ndarray]:
    """(paraphrase similarities, similarities between different topics)."""
    first = embedder.embed([a for a, _ in KOREAN])
    second = embedder.embed([b for _, b in KOREAN])
    pairs = first @ second.T
    return np.diag(pairs), pairs[~np.eye(len(KOREAN), dtype=bool)]


def test_the_multilingual_embedder_tells_korean_topics_apart() -> None:
    e5 = OnnxEmbedder(MULTILINGUAL_EMBEDDER_DIR, "multilingual-e5-small")
    same, different = korean_similarities(e5)
    assert same.min() > different.max() + 0.05
    # A Korean question finds its memory above the "clearly related" line; others stay below.
    question = e5.embed(["고양이 이름이 뭐였지?"], query=True)[0]
    scores = e5.embed([b for _, b in KOREAN]) @ question
    assert scores[0] >= e5.strong_similarity > scores[1:].max()


def test_minilm_cannot_tell_korean_topics_apart() -> None:
    """Why the default changed: MiniLM reads Hangul as fragments and [UNK]."""
    minilm = MiniLMEmbedder(DEFAULT_EMBEDDER_DIR)
    same, different = korean_similarities(minilm)
    assert same.min() < different.max()


def test_queries_and_passages_are_embedded_differently(embedder: OnnxEmbedder) -> None:
    text = ["Where does my sister live?"]
    as_query, as_passage = embedder.embed(text, query=True), embedder.embed(text)
    if embedder.profile.query_prefix:  # e5 was trained with "query: " / "passage: "
        assert float(as_query[0] @ as_passage[0]) < 0.999
    else:
        np.testing.assert_allclose(as_query, as_passage, atol=1e-6)


def test_thresholds_belong_to_the_embedder(embedder: OnnxEmbedder) -> None:
    profile = PROFILES[embedder.name]
    assert (embedder.strong_similarity, embedder.duplicate_similarity) == (
        profile.strong_similarity, profile.duplicate_similarity)
    # The same fact said again is a duplicate; a different person in it is not.
    fact, again, other = embedder.embed(["My sister lives in Lisbon.",
                                         "My sister lives in Lisbon now.",
                                         "My brother lives in Lisbon."])
    assert fact @ again >= embedder.duplicate_similarity > fact @ other


def test_the_wrong_model_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="does not hold multilingual-e5-small"):
        OnnxEmbedder(DEFAULT_EMBEDDER_DIR, "multilingual-e5-small")
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("word2vec", None, MODELS_DIR)
    assert load_embedder("all-MiniLM-L6-v2", None, MODELS_DIR).name == "all-MiniLM-L6-v2"
