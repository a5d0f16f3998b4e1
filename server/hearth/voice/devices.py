"""The one adapter that touches sound hardware: the default microphone and speaker.

sounddevice needs the system's PortAudio; without it (or without a device) we
say so plainly instead of failing somewhere deep inside a turn.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from hearth.errors import HearthError

MIC_RATE = 16_000
MIC_BLOCK = 512  # 32 ms: one VAD frame


class NoAudioDevice(HearthError):
    code = "no_audio_device"


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as e:  # the Python package is there, the PortAudio library is not
        raise NoAudioDevice(
            f"PortAudio is missing ({e}): install it with `sudo apt-get install libportaudio2`"
        ) from e
    return sounddevice


def _check_device(sd: Any, kind: str) -> None:
    try:
        sd.query_devices(kind=kind)
    except Exception as e:  # PortAudioError or ValueError, depending on the host API
        raise NoAudioDevice(
            f"no default {kind} sound device ({e}): plug one in, or talk through a LAN "
            "client on the /api/voice WebSocket instead"
        ) from e


class Microphone:
    """Audio from the default input device as float32 16 kHz chunks, in real time."""

    def __init__(self) -> None:
        self._sd = _sounddevice()
        _check_device(self._sd, "input")

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()

        def callback(indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, indata[:, 0].copy())

        def finished() -> None:  # the device went away (or a test's recording ended)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        with self._sd.InputStream(samplerate=MIC_RATE, channels=1, dtype="float32",
                                  blocksize=MIC_BLOCK, callback=callback,
                                  finished_callback=finished):
            while (chunk := await queue.get()) is not None:
                yield chunk


class Speaker:
    """Plays turns' audio on the default output device, and knows how much was played."""

    def __init__(self) -> None:
        self._sd = _sounddevice()
        _check_device(self._sd, "output")
        self.rate = 0
        self._stream: Any = None  # opened at the rate of the first audio
        self._queue: deque[tuple[int, np.ndarray]] = deque()
        self._played: dict[int, int] = {}  # turn -> samples played
        self._lock = threading.Lock()

    def _fill(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        out = outdata[:, 0]
        out[:] = 0
        filled = 0
        with self._lock:
            while filled < frames and self._queue:
                turn, pcm = self._queue[0]
                n = min(frames - filled, len(pcm))
                out[filled : filled + n] = pcm[:n]
                filled += n
                self._played[turn] = self._played.get(turn, 0) + n
                if n == len(pcm):
                    self._queue.popleft()
                else:
                    self._queue[0] = (turn, pcm[n:])

    def play(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        if rate != self.rate:
            self.close()
            self.rate = rate
            self._stream = self._sd.OutputStream(samplerate=rate, channels=1, dtype="int16",
                                                 callback=self._fill)
            self._stream.start()
        with self._lock:
            self._queue.append((turn, pcm))

    def cancel(self, turn: int) -> float:
        with self._lock:
            self._queue = deque(item for item in self._queue if item[0] != turn)
            return self._played.get(turn, 0) / max(self.rate, 1)

    def busy(self) -> bool:
        with self._lock:
            return bool(self._queue)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
