"""Smart Turn v3: whether an utterance sounds finished, from its audio (words and tone).

An 8 MB ONNX classifier on a Whisper-tiny encoder, trained on end-of-turn and
mid-sentence-pause audio in 23 languages. It reads the last 8 s of the utterance
as 80-bin log-mel features (faster-whisper's extractor gives exactly the features
it was trained on) and answers the probability that the turn is complete. About
40 ms on one CPU core. `scripts/install_models.py` copies the model out of the
`pipecat-ai` wheel, which ships it (BSD-2-Clause).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from hearth.engines.vad import one_thread_session

SAMPLE_RATE = 16_000
SECONDS = 8  # the model's window: longer audio keeps its end, shorter is padded before


def _session(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(
            f"Smart Turn model {path} is missing: run `python scripts/install_models.py`")
    return one_thread_session(path)


@functools.cache
def _features() -> Any:
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor(chunk_length=SECONDS)


class SmartTurn:
    """`SmartTurn(path).finished(audio)` → probability that the speaker is done."""

    def __init__(self, model: Path) -> None:
        self._session = _session(Path(model))

    def finished(self, audio: np.ndarray) -> float:
        """Float32 16 kHz mono audio of the utterance so far, ending at the pause."""
        size = SECONDS * SAMPLE_RATE
        audio = np.asarray(audio, np.float32).reshape(-1)[-size:]
        audio = np.pad(audio, (size - len(audio), 0))
        # Zero mean, unit variance, as the training features were (transformers'
        # WhisperFeatureExtractor with do_normalize).
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
        mel = _features()(audio, padding=0)[:, : size // 160].astype(np.float32)
        (probability,) = self._session.run(None, {"input_features": mel[None]})[0][0]
        return float(probability)
