"""Sentence embeddings on onnxruntime, and nothing else imports it.

`OnnxEmbedder` turns texts into unit-length float32 vectors (mean pooling over
the attention mask, then L2 normalisation), the same as sentence-transformers
does, without torch. Which model it runs is an `EmbedderProfile`: its folder, its
prefixes, and the similarities that mean "clearly related" for it, since each
model spreads cosines differently (MiniLM's unrelated pairs sit near 0.1, e5's
near 0.75). The index records the profile's name and is rebuilt when it changes.

- all-MiniLM-L6-v2 (default): English only (other scripts become [UNK]); 6 layers.
- multilingual-e5-small: about 100 languages, Korean included; 12 layers, ~2x slower,
  and a little weaker on English (LoCoMo evidence recall 0.924 vs 0.936 "any").
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


def disable_onnxruntime_telemetry() -> None:
    """Opt out of onnxruntime's telemetry, on by default in its recent Linux wheels.

    onnxruntime reads ORT_DISABLE_TELEMETRY once, when it is first imported, and
    otherwise writes a device id under ~/.cache/Microsoft and uploads events to
    Microsoft. faster-whisper and piper import it too, so call this (or set the
    variable) at process start; an explicit ORT_DISABLE_TELEMETRY=0 is respected.
    """
    if "ORT_DISABLE_TELEMETRY" in os.environ:
        return
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    if "onnxruntime" in sys.modules:
        log.warning(
            "onnxruntime was imported before its telemetry was disabled; "
            "set ORT_DISABLE_TELEMETRY=1 at process start"
        )


@dataclass(frozen=True)
class EmbedderProfile:
    """One embedding model: where it lives, how it is fed, what its similarities mean."""

    name: str  # recorded in the memory index: a different one rebuilds it
    folder: str  # under models/
    dim: int
    vocab_size: int  # of its tokenizer: tells one model's files from another's
    strong_similarity: float  # cosine (query to memory) above which a memory is clearly related
    duplicate_similarity: float  # cosine above which two facts say the same thing
    query_prefix: str = ""  # e5 was trained with "query: " / "passage: " in front
    passage_prefix: str = ""
    max_length: int = 256  # tokens kept of each text (both models' limit is 512)


# Thresholds: MiniLM's were tuned by hand; e5's put the same share of LoCoMo's
# question-to-evidence and unrelated pairs on each side (see scripts/bench_memory.py).
PROFILES = {
    p.name: p for p in (
        EmbedderProfile("multilingual-e5-small", "multilingual-e5-small", 384, 250002,
                        strong_similarity=0.82, duplicate_similarity=0.97,
                        query_prefix="query: ", passage_prefix="passage: "),
        EmbedderProfile("all-MiniLM-L6-v2", "minilm-l6-v2", 384, 30522,
                        strong_similarity=0.4, duplicate_similarity=0.9),
    )
}
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"  # English LoCoMo: 0.936/0.855 vs e5 0.924/0.849


class Embedder(Protocol):
    """What the rest of Hearth needs from an embedder."""

    name: str
    dim: int
    strong_similarity: float
    duplicate_similarity: float

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Shape (len(texts), dim), float32, unit rows; no texts gives (0, dim).

        `query`: the texts are searches (a chat turn), not memories to be found."""
        ...


def lean_session(model_path: Path, options: Any) -> Any:
    """An onnxruntime CPU session that hands its working memory back after every run.

    onnxruntime keeps what a run needed in an arena it never shrinks, so a server's
    memory would creep up to the largest input it has ever seen: +380 MiB for Piper
    after 120 sentences, +390 MiB for the embedder after a few long batches, here.
    Shrinking the arena after each run keeps that flat for a few percent of speed.
    It also keeps a memory plan for every input shape it meets, never forgotten:
    Piper's sentences of new lengths added 16 KB each (+16 MiB per 1,000 sentences);
    without the plans it stays flat, and Piper was no slower here.
    """
    import onnxruntime as ort

    options.enable_mem_pattern = False
    shrink = ort.RunOptions()
    shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    class LeanSession(ort.InferenceSession):
        def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
            return super().run(output_names, input_feed, run_options or shrink)

    return LeanSession(str(model_path), options, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """A BERT-style ONNX encoder with its `tokenizers` file. Safe to share between threads."""

    def __init__(
        self,
        model_dir: Path,
        profile: EmbedderProfile | str = DEFAULT_EMBEDDER,
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        threads: int | None = None,
    ) -> None:
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ValueError(f"unknown embedder {profile!r}: one of {', '.join(PROFILES)}")
            profile = PROFILES[profile]
        self.profile = profile
        self.name = profile.name
        self.dim = profile.dim
        self.strong_similarity = profile.strong_similarity
        self.duplicate_similarity = profile.duplicate_similarity
        max_length = max_length or profile.max_length
        disable_onnxruntime_telemetry()
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:  # pragma: no cover - install problem
            raise RuntimeError(
                "onnxruntime and tokenizers are needed for memory embeddings: run `make run` "
                "or `pip install onnxruntime tokenizers`"
            ) from e
        if batch_size < 1 or not 8 <= max_length <= 512:  # 512: the model's position limit
            raise ValueError("batch_size must be >= 1 and max_length within 8..512")
        model_dir = Path(model_dir)
        missing = [n for n in (MODEL_FILE, TOKENIZER_FILE) if not (model_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"embedding model incomplete in {model_dir} (missing {', '.join(missing)}): "
                "run `python scripts/install_models.py`"
            )
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.max_length = max_length

        self._tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        if self._tokenizer.get_vocab_size() != profile.vocab_size:
            raise ValueError(
                f"{model_dir} does not hold {profile.name} (its tokenizer has "
                f"{self._tokenizer.get_vocab_size()} tokens, not {profile.vocab_size}): "
                "point memory.embedder_dir at that model's folder, or leave it unset"
            )
        self._tokenizer.enable_truncation(max_length=max_length)
        # The file pads every input to a fixed 128 tokens; we pad per batch ourselves.
        self._tokenizer.no_padding()

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Idle worker threads would otherwise busy-wait after each call, taking CPU
        # from llama.cpp, which starts on the same cores right after a query embedding.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = lean_session(model_dir / MODEL_FILE, options)
        inputs = {i.name for i in self._session.get_inputs()}
        self._with_token_types = "token_type_ids" in inputs
        log.info(
            "embedder %s loaded from %s (%d threads)", profile.name, model_dir,
            options.intra_op_num_threads,
        )

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.profile.query_prefix if query else self.profile.passage_prefix
        if prefix:
            texts = [prefix + text for text in texts]
        if len(texts) == 1:
            return self._run([self._tokenizer.encode(texts[0]).ids])
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        # Batching texts of similar length keeps padding (wasted compute) small.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._run([ids[i] for i in chunk])
        return out

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if self._with_token_types:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = self._session.run(["last_hidden_state"], feed)
        weights = mask.astype(np.float32)
        pooled = np.einsum("bsd,bs->bd", hidden, weights) / weights.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class MiniLMEmbedder(OnnxEmbedder):
    """all-MiniLM-L6-v2, the English-only embedder Hearth started with."""

    def __init__(self, model_dir: Path, **options: Any) -> None:
        super().__init__(model_dir, PROFILES["all-MiniLM-L6-v2"], **options)


def load_embedder(name: str, model_dir: Path | None, models_dir: Path) -> OnnxEmbedder:
    """The embedder `name`, from `model_dir` or else its folder under `models_dir`."""
    if name not in PROFILES:
        raise ValueError(f"unknown embedder {name!r}: one of {', '.join(PROFILES)}")
    profile = PROFILES[name]
    return OnnxEmbedder(model_dir or models_dir / profile.folder, profile)
