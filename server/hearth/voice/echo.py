"""Echo guard: keep the assistant from taking its own voice for the user's.

The microphone hears the speaker. We know what we played and roughly when, so
for each stretch of microphone input we find the delay and gain at which our own
audio best explains it (one FFT cross-correlation) and subtract it. What is
left is the user. When almost nothing is left, the input was our echo and is
replaced by silence, so voice activity detection never fires on it; when the
user talks over the reply, their voice survives the subtraction and barge-in
still works. Browsers also cancel echo themselves (`echoCancellation`); this
guard covers clients that don't and the local speaker.
"""

from __future__ import annotations

import numpy as np

RATE = 16_000


class EchoGuard:
    def __init__(
        self, *, max_delay_s: float = 0.8, window_s: float = 0.3, residual: float = 0.25
    ) -> None:
        self.max_delay = int(max_delay_s * RATE)
        self.window = int(window_s * RATE)
        self.residual = residual  # share of input energy our echo must leave unexplained
        self._played: list[tuple[int, np.ndarray]] = []  # (start sample, audio) on input time
        self._recent = np.zeros(0, dtype=np.float32)  # the latest microphone input

    def play(self, audio: np.ndarray, start: int) -> int:
        """Our audio (float32, 16 kHz) starts playing at input sample `start`; returns its end."""
        self._played.append((start, audio.astype(np.float32, copy=False)))
        return start + len(audio)

    def clear(self) -> None:
        """Nothing more is playing (the turn ended or was interrupted)."""
        self._played.clear()

    def filter(self, chunk: np.ndarray, end: int) -> np.ndarray:
        """The user's part of `chunk` (float32), which ends at input sample `end`."""
        self._recent = np.concatenate([self._recent, chunk])[-max(self.window, len(chunk)):]
        lo = end - len(self._recent) - self.max_delay
        self._played = [(s, a) for s, a in self._played if s + len(a) > lo]
        if not self._played:
            return chunk
        reference = self._reference(lo, end)
        if not reference.any():
            return chunk
        mic = self._recent
        offset, gain = _best_fit(mic, reference)
        echo = gain * reference[offset : offset + len(mic)]
        left = mic - echo
        if float(left @ left) < self.residual * float(mic @ mic):
            return np.zeros_like(chunk)
        return _quieter(left[-len(chunk):].astype(np.float32), chunk)

    def _reference(self, lo: int, hi: int) -> np.ndarray:
        out = np.zeros(hi - lo, dtype=np.float32)
        for start, audio in self._played:
            a, b = max(start, lo), min(start + len(audio), hi)
            if a < b:
                out[a - lo : b - lo] += audio[a - start : b - start]
        return out


def _quieter(left: np.ndarray, chunk: np.ndarray, block: int = RATE // 100) -> np.ndarray:
    """`left` where taking our echo away made the input quieter, `chunk` elsewhere.

    Where the microphone does not hear what we play (it fell silent, the client's own
    echo cancellation took over), subtracting our echo would add our voice, inverted,
    for the VAD to hear. Decided per 10 ms, so the chunk size does not matter.
    """
    out = chunk.copy()
    for i in range(0, len(chunk), block):
        user, raw = left[i : i + block], chunk[i : i + block]
        if float(user @ user) < float(raw @ raw):
            out[i : i + block] = user
    return out


def _best_fit(mic: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Where in `reference` the stretch that best explains `mic` starts, and its gain.

    `reference` ends with `mic` and reaches `max_delay` samples further into the past:
    an echo delayed by d samples sits at offset len(reference) - len(mic) - d.
    """
    n, m = len(mic), len(reference)
    size = 1 << (n + m - 1).bit_length()
    spectrum = np.fft.rfft(reference, size) * np.conj(np.fft.rfft(mic, size))
    corr = np.fft.irfft(spectrum, size)[: m - n + 1]  # corr[k] = sum mic[j] * ref[k + j]
    energy = np.cumsum(np.concatenate([[0.0], reference.astype(np.float64) ** 2]))
    window_energy = energy[n:] - energy[: m - n + 1]
    score = corr / np.sqrt(np.maximum(window_energy, 1e-9))
    k = int(np.argmax(score))
    gain = float(corr[k] / max(window_energy[k], 1e-9))
    return k, max(gain, 0.0)
