"""A person's voice for the voice benchmarks: lines synthesised by Piper, streamed into
`/api/voice` in real time as a microphone would, with room noise around them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hearth.config import load_settings
from hearth.engines.tts import PiperSynthesizer

RATE = 16_000
FRAME = 320  # 20 ms of 16 kHz input


@dataclass
class Utterance:
    text: str
    audio: np.ndarray  # float32, 16 kHz
    speech_end: int  # sample index just after the last voiced 10 ms


def to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    x = pcm.astype(np.float32) / 32768
    return np.interp(np.arange(0, len(x), rate / RATE), np.arange(len(x)), x).astype(np.float32)


def voiced_end(audio: np.ndarray) -> int:
    """Just after the last 10 ms that is clearly not silence."""
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > 0.01)
    return int((loud[-1] + 1) * 160) if len(loud) else len(audio)


def synthesise(texts: list[str]) -> list[Utterance]:
    """Each text said by the default Piper voice, with its natural pauses, at 16 kHz."""
    settings = load_settings()
    tts = PiperSynthesizer(settings.voice.voices_dir)
    voice = settings.voice.default_voice
    rate = tts.sample_rate(voice)
    out = []
    for text in texts:
        audio = to_16k(np.concatenate(list(tts.synthesize(text, voice=voice))), rate)
        out.append(Utterance(text, audio, voiced_end(audio)))
    return out


def room(noise: np.random.Generator, seconds: float) -> np.ndarray:
    """The faint noise of a quiet room."""
    return (noise.standard_normal(int(seconds * RATE)) * 0.001).astype(np.float32)


async def send_realtime(ws: Any, samples: np.ndarray, start: float | None = None) -> None:
    """Send 16 kHz samples as 20 ms PCM16 frames, each when it has been said if the first
    began at `start` (perf_counter; default now)."""
    start = time.perf_counter() if start is None else start
    for i in range(0, len(samples), FRAME):
        await asyncio.sleep(max(0.0, start + (i + FRAME) / RATE - time.perf_counter()))
        await ws.send(np.round(samples[i : i + FRAME] * 32767).astype("<i2").tobytes())
