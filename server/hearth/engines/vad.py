"""Voice activity: Silero VAD v6 on onnxruntime, streamed frame by frame.

The model is the ONNX file faster-whisper ships (its `assets/`), so nothing is
downloaded. `SpeechDetector` gives the speech probability of each 32 ms frame
(512 samples at 16 kHz), carrying the LSTM state and 64 samples of context from
one frame to the next exactly as faster-whisper's batched `SileroVADModel` does.
`Endpointer` turns those probabilities into turn events for the voice loop.

One ONNX session serves the whole process (onnxruntime's `run` is thread-safe);
each detector holds only its few hundred floats of state, so one per stream is
cheap. A frame costs about a quarter of a millisecond on one CPU core.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hearth.engines.embed import disable_onnxruntime_telemetry

SAMPLE_RATE = 16_000
FRAME = 512  # samples per Silero frame at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous frame the model sees before each frame
MODEL_FILE = "silero_vad_v6.onnx"


def bundled_model() -> Path:
    """faster-whisper's copy of the model, found without importing faster-whisper."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the Silero VAD model comes with faster-whisper: `pip install faster-whisper`"
        )
    return Path(spec.origin).parent / "assets" / MODEL_FILE


@functools.cache
def one_thread_session(path: Path) -> Any:
    """An onnxruntime session on one CPU thread, quiet, for the small models that run
    beside Whisper and the chat model in the voice loop (Silero VAD, Smart Turn)."""
    disable_onnxruntime_telemetry()
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover - install problem
        raise RuntimeError("the voice loop's models need `pip install onnxruntime`") from e
    options = ort.SessionOptions()
    # One frame or one pause is far too small to split across threads; spinning
    # threads would only take CPU from the models running beside them.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 4
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class SpeechDetector:
    """Speech probability per frame of one audio stream (16 kHz float32 mono)."""

    def __init__(self, model: Path | None = None) -> None:
        self._session = one_thread_session(model or bundled_model())
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next frame starts a new one."""
        self.refresh()
        self._context = np.zeros(CONTEXT, np.float32)

    def refresh(self) -> None:
        """Forget what the model's memory (its LSTM state) made of the stream so far, and
        keep the stream going. Long background noise wears that state down: after a
        minute of quiet room noise, speech scores about 0.6 where a fresh state gives 0.85,
        and the first words of the next utterance go unheard."""
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)

    def probability(self, frame: np.ndarray) -> float:
        """The next `FRAME` samples of the stream → probability that they are speech."""
        if len(frame) != FRAME:
            raise ValueError(f"a frame is {FRAME} samples at {SAMPLE_RATE} Hz")
        return float(self.probabilities(frame)[0])

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """The next frames of the stream at once (a multiple of `FRAME` samples): one
        model call for all of them, with the same results as frame by frame."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(audio) % FRAME:
            raise ValueError(f"audio must be a whole number of {FRAME}-sample frames")
        if not len(audio):
            return np.zeros(0, np.float32)
        frames = audio.reshape(-1, FRAME)
        contexts = np.concatenate([self._context[None, :], frames[:-1, -CONTEXT:]])
        inputs = np.concatenate([contexts, frames], axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": inputs, "h": self._h, "c": self._c}
        )
        self._context = frames[-1, -CONTEXT:].copy()
        return np.asarray(probs, np.float32).reshape(-1)


def speech_ratio(audio: np.ndarray, threshold: float = 0.5) -> float:
    """Share of a clip's 32 ms frames that are speech (0.0 for a clip under one frame)."""
    frames = len(audio) // FRAME
    if not frames:
        return 0.0
    probs = SpeechDetector().probabilities(np.asarray(audio)[: frames * FRAME])
    return float(np.mean(probs >= threshold))


@dataclass(frozen=True)
class SpeechStarted:
    """The user started speaking (after `min_speech_ms` of speech, so not a click)."""

    at: float  # stream time, in seconds, at which the event was detected


@dataclass(frozen=True)
class SpeechPaused:
    """Silence has lasted `pause_ms`: a caller may start transcribing `audio` now. If no
    `SpeechResumed` follows, the `SpeechEnded` audio is this same audio."""

    at: float
    audio: np.ndarray  # the utterance so far, float32 16 kHz, padded


@dataclass(frozen=True)
class SpeechResumed:
    """Speech came back after a pause, before the turn ended: drop an early transcript."""

    at: float


@dataclass(frozen=True)
class SpeechEnded:
    """Silence has lasted `silence_ms` (or the utterance reached its longest): the turn is over."""

    at: float
    audio: np.ndarray  # the utterance, float32 16 kHz, with a little silence either side
    speech_end: float  # stream time at which the speech really stopped


VadEvent = SpeechStarted | SpeechPaused | SpeechResumed | SpeechEnded


class Endpointer:
    """Finds where the user's turns start and end in a stream of 16 kHz float32 audio.

    Feed chunks of any size; each call returns the events its audio completed.
    A frame counts as speech from `threshold` up; once speech has begun it
    stays speech down to `threshold - 0.15` (hysteresis, as Silero's own
    segmenter does), and after a pause only `threshold` resumes it. Times are
    seconds of stream time since the first sample fed (or the last `reset`).
    Between utterances the detector is refreshed every `refresh_s` of quiet
    (`SpeechDetector.refresh`), so a turn after a long silence starts on its first word.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        silence_ms: int = 400,
        min_speech_ms: int = 200,
        pause_ms: int = 150,
        *,
        pad_ms: int = 200,
        max_speech_s: float = 30.0,
        refresh_s: float = 3.0,
        detector: SpeechDetector | None = None,
    ) -> None:
        def frames(ms: float) -> int:
            return max(1, math.ceil(ms * SAMPLE_RATE / 1000 / FRAME))

        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self._frames_of = frames
        self._silence = frames(silence_ms)
        self._min_speech = frames(min_speech_ms)
        self._pause = frames(pause_ms)
        self._pad = frames(pad_ms)
        # Trailing padding no longer than the pause, so a paused utterance is complete.
        self._tail = min(self._pad, self._pause)
        self._max_speech = frames(max_speech_s * 1000)
        self._refresh = frames(refresh_s * 1000)
        self._detector = detector or SpeechDetector()
        self.reset()

    def reset(self) -> None:
        """Drop any utterance in progress and start a new stream at time 0."""
        self._detector.reset()
        self._pending = np.zeros(0, np.float32)
        self._frames: list[np.ndarray] = []  # audio kept, frame by frame
        self._first = 0  # stream index of self._frames[0]
        self._n = 0  # frames processed
        self._idle = 0  # frames since the detector was refreshed, none of them in an utterance
        self._start: int | None = None  # first frame of the (candidate) utterance
        self._last_speech = 0
        self._speech_frames = 0
        self._started = False
        self._paused = False
        self._window = self._silence  # silence that ends the current pause

    @property
    def in_speech(self) -> bool:
        """Whether a turn has started and not yet ended."""
        return self._started

    def heard_so_far(self) -> np.ndarray:
        """The turn in progress as it stands (padded as `SpeechEnded.audio` is); empty
        between turns."""
        return self._utterance() if self._started else np.zeros(0, np.float32)

    def end_after(self, silence_ms: float) -> list[VadEvent]:
        """End the current pause once its silence reaches `silence_ms` instead of the
        `silence_ms` given at construction: the caller has read what was said. If it has
        already lasted that long, the turn ends now (returned). No pause in progress:
        nothing happens; the next pause starts again from the constructed window."""
        if not self._paused:
            return []
        self._window = self._frames_of(silence_ms)
        if self._n - 1 - self._last_speech >= self._window:
            return [self._end(self._n * FRAME / SAMPLE_RATE)]
        return []

    def feed(self, chunk: np.ndarray) -> list[VadEvent]:
        audio = np.concatenate([self._pending, np.asarray(chunk, np.float32).reshape(-1)])
        whole = len(audio) // FRAME * FRAME
        self._pending = audio[whole:]
        if not whole:
            return []
        events: list[VadEvent] = []
        frames = audio[:whole].reshape(-1, FRAME)
        while len(frames):
            # The detector runs on many frames at once; where a refresh is due, split there.
            due = len(frames) if self._start is not None else max(1, self._refresh - self._idle)
            batch, frames = frames[:due], frames[due:]
            for frame, p in zip(batch, self._detector.probabilities(batch.reshape(-1)),
                                strict=True):
                events += self._next(frame, float(p))
            if self._idle >= self._refresh:
                self._detector.refresh()
                self._idle = 0
        return events

    def _next(self, frame: np.ndarray, p: float) -> list[VadEvent]:
        self._frames.append(frame)
        events = self._step(p)
        self._n += 1
        if self._start is None:  # idle: keep only the leading padding
            self._idle += 1
            keep = len(self._frames) - self._pad
            if keep > 0:
                del self._frames[:keep]
                self._first += keep
        else:
            self._idle = 0
        return events

    def _step(self, p: float) -> list[VadEvent]:
        n = self._n
        now = (n + 1) * FRAME / SAMPLE_RATE
        if self._start is None:
            if p >= self.threshold:
                self._start, self._last_speech, self._speech_frames = n, n, 0
            else:
                return []
        if not self._started:  # a candidate: speech, but maybe only a click
            if p >= self.neg_threshold:
                self._speech_frames += 1
                self._last_speech = n
            elif n - self._last_speech >= self._pause:
                self._start = None
                return []
            if self._speech_frames < self._min_speech:
                return []
            self._started = True
            return [SpeechStarted(now)]
        if self._paused and p >= self.threshold:
            self._paused, self._last_speech, self._window = False, n, self._silence
            return [SpeechResumed(now)]
        if not self._paused and p >= self.neg_threshold:
            self._last_speech = n
        silent = n - self._last_speech
        if silent >= self._window or n + 1 - self._start >= self._max_speech:
            return [self._end(now)]
        if not self._paused and silent >= self._pause:
            self._paused = True
            return [SpeechPaused(now, self._utterance())]
        return []

    def flush(self) -> list[VadEvent]:
        """End the turn now (push-to-talk released) rather than after `silence_ms`;
        a burst still shorter than `min_speech_ms` is dropped."""
        if not self._started:
            self._start = None
            return []
        return [self._end(self._n * FRAME / SAMPLE_RATE)]

    def _end(self, now: float) -> SpeechEnded:
        speech_end = (self._last_speech + 1) * FRAME / SAMPLE_RATE
        ended = SpeechEnded(now, self._utterance(), speech_end)
        self._start, self._started, self._paused = None, False, False
        self._window = self._silence
        return ended

    def _utterance(self) -> np.ndarray:
        assert self._start is not None
        begin = max(self._start - self._pad, self._first) - self._first
        end = self._last_speech + 1 + self._tail - self._first  # slicing stops at the newest
        return np.concatenate(self._frames[begin:end])
