"""Real speech for tests: Piper phrases resampled to 16 kHz, synthesised once per session.

Piper's noise is turned off, so the same text always gives the same samples.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from piper import PiperVoice, SynthesisConfig

from hearth.config import DEFAULT_VOICE, DEFAULT_VOICES_DIR

RATE = 16_000
AUDIBLE = 0.02  # full scale: Piper normalises each sentence to a peak of 1.0


@dataclass(frozen=True)
class Speech:
    text: str
    audio: np.ndarray  # float32 mono at 16 kHz
    start: float  # seconds where the voice becomes audible
    end: float  # seconds where it falls silent for good


class SpeechMaker:
    """`speech("Hello there.")` → the phrase spoken by the default Piper voice."""

    def __init__(self) -> None:
        self._voice = PiperVoice.load(DEFAULT_VOICES_DIR / f"{DEFAULT_VOICE}.onnx")
        self._config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        self._made: dict[str, Speech] = {}

    def __call__(self, text: str) -> Speech:
        if text not in self._made:
            chunks = self._voice.synthesize(text, self._config)
            pcm = np.concatenate([c.audio_int16_array for c in chunks])
            audio = resample(pcm, self._voice.config.sample_rate)
            loud = np.nonzero(np.abs(audio) > AUDIBLE)[0]
            self._made[text] = Speech(text, audio, loud[0] / RATE, (loud[-1] + 1) / RATE)
        return self._made[text]


def resample(pcm: np.ndarray, rate: int) -> np.ndarray:
    """int16 mono at `rate` → float32 at 16 kHz, with FFmpeg's resampler."""
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    frames = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def pcm16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


def word_error_rate(expected: str, heard: str) -> float:
    """Word-level edit distance over the expected length, case and punctuation aside."""
    ref, hyp = words(expected), words(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)


# Everyday Korean, as a companion would hear it (particles, polite endings, a place name).
KOREAN_SENTENCES = [
    "어제 부산에 가서 친구를 만났어요.",
    "안녕하세요, 오늘 날씨가 정말 좋네요.",
    "내 고양이 이름은 나비예요.",
    "다음 주 월요일에 면접이 있어요.",
    "저녁에 김치찌개를 먹었어요.",
]


def spoken_by(synthesizer: Any, text: str, *, voice: str) -> np.ndarray:
    """`text` spoken by one of Hearth's engines, as float32 at 16 kHz with a little silence
    either side (eSpeak starts and ends with no pause at all)."""
    pcm = np.concatenate(list(synthesizer.synthesize(text, voice=voice)))
    audio = resample(pcm, synthesizer.sample_rate(voice))
    return np.concatenate([silence(0.3), audio, silence(0.3)])


def character_error_rate(expected: str, heard: str) -> float:
    """Edit distance over letters and digits (spaces and punctuation ignored) per expected
    character: the measure for scripts such as Hangul, where words are not the unit."""
    a = [c for c in unicodedata.normalize("NFC", expected) if c.isalnum()]
    b = [c for c in unicodedata.normalize("NFC", heard) if c.isalnum()]
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[:], i
        for j, y in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
    return row[-1] / max(1, len(a))
