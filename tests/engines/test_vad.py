"""Silero VAD, streamed: probabilities match the batched model, and the endpointer finds
the turns in real Piper speech (started, paused, resumed, ended), ignoring clicks,
silence and quiet noise."""

from __future__ import annotations

import numpy as np
import pytest

from hearth.engines.stt import Transcriber
from hearth.engines.vad import (
    FRAME,
    Endpointer,
    SpeechDetector,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    VadEvent,
    speech_ratio,
)
from tests.utils.speech import RATE, Speech, SpeechMaker, silence, word_error_rate

FIRST = "Please turn on the kitchen lights."
SECOND = "What is the weather like tomorrow?"
CHUNK = 320  # 20 ms, as a browser or sound card sends it: not a whole frame


def feed(endpointer: Endpointer, audio: np.ndarray, chunk: int = CHUNK) -> list[VadEvent]:
    events: list[VadEvent] = []
    for i in range(0, len(audio), chunk):
        events += endpointer.feed(audio[i : i + chunk])
    return events


def kinds(events: list[VadEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


@pytest.fixture(scope="module")
def first(speech: SpeechMaker) -> Speech:
    return speech(FIRST)


@pytest.fixture(scope="module")
def second(speech: SpeechMaker) -> Speech:
    return speech(SECOND)


def test_streamed_probabilities_match_the_batched_model(first: Speech) -> None:
    from faster_whisper.vad import get_vad_model  # the reference: faster-whisper's own runner

    audio = np.concatenate([silence(0.3), first.audio, silence(0.3)])
    audio = audio[: len(audio) // FRAME * FRAME]
    detector = SpeechDetector()
    streamed = [detector.probability(f) for f in audio.reshape(-1, FRAME)]
    np.testing.assert_allclose(streamed, get_vad_model()(audio).reshape(-1), atol=1e-5)
    detector.reset()
    np.testing.assert_allclose(detector.probabilities(audio), streamed, atol=1e-5)


def test_speech_ratio_tells_speech_from_silence_and_noise(first: Speech) -> None:
    noise = np.random.default_rng(1).normal(0, 0.005, RATE).astype(np.float32)
    assert speech_ratio(first.audio) > 0.7
    assert speech_ratio(silence(1.0)) == 0.0
    assert speech_ratio(noise) < 0.05
    assert speech_ratio(silence(0.01)) == 0.0


def test_a_turn_with_a_pause_starts_pauses_resumes_and_ends(
    first: Speech, second: Speech, transcriber: Transcriber
) -> None:
    lead, gap = 0.5, 0.3
    second_at = lead + len(first.audio) / RATE + gap
    stream = np.concatenate([silence(lead), first.audio, silence(gap), second.audio, silence(1.2)])
    events = feed(Endpointer(silence_ms=600, min_speech_ms=200, pause_ms=150), stream)

    names = kinds(events)
    assert names[0] == "SpeechStarted" and names[-1] == "SpeechEnded", names
    assert names.count("SpeechStarted") == 1 and names.count("SpeechEnded") == 1, names
    middle = names[1:-1]  # pauses and resumes alternate, the gap among them
    assert middle[::2] == ["SpeechPaused"] * len(middle[::2]), names
    assert middle[1::2] == ["SpeechResumed"] * len(middle[1::2]), names
    resumed = [e.at for e in events if isinstance(e, SpeechResumed)]
    assert any(second_at < at < second_at + second.start + 0.2 for at in resumed), events
    assert [e.at for e in events] == sorted(e.at for e in events)

    started, ended = events[0], events[-1]
    assert isinstance(started, SpeechStarted) and isinstance(ended, SpeechEnded)
    assert lead + first.start + 0.2 <= started.at <= lead + first.start + 0.4
    true_end = second_at + second.end
    assert abs(ended.speech_end - true_end) <= 0.1, (ended.speech_end, true_end)
    assert ended.at == pytest.approx(ended.speech_end + 0.6, abs=0.04)
    # The utterance holds both phrases, with a little padding, and reads back as both.
    padded = true_end - (lead + first.start) + 0.22 + 0.16  # 200 ms before, 150 ms after
    assert len(ended.audio) / RATE == pytest.approx(padded, abs=0.1)
    heard = transcriber.transcribe(ended.audio).text
    assert word_error_rate(f"{FIRST} {SECOND}", heard) <= 0.2, heard


def test_a_pause_that_ends_the_turn_already_holds_its_audio(first: Speech) -> None:
    stream = np.concatenate([silence(0.4), first.audio, silence(1.0)])
    events = feed(Endpointer(silence_ms=500, pause_ms=150), stream)
    assert kinds(events)[0] == "SpeechStarted" and kinds(events)[-2:] == [
        "SpeechPaused", "SpeechEnded"]
    paused, ended = events[-2], events[-1]
    assert isinstance(paused, SpeechPaused) and isinstance(ended, SpeechEnded)
    assert np.array_equal(paused.audio, ended.audio)  # an early transcript can be kept
    assert ended.at - paused.at == pytest.approx(0.35, abs=0.04)


def test_events_do_not_depend_on_the_chunk_size(first: Speech, second: Speech) -> None:
    stream = np.concatenate([silence(0.3), first.audio, silence(0.4), second.audio, silence(1.0)])
    runs = [feed(Endpointer(), stream, chunk) for chunk in (CHUNK, FRAME, 4000, len(stream))]
    summaries = [[(type(e).__name__, e.at) for e in run] for run in runs]
    assert all(s == summaries[0] for s in summaries), summaries
    assert kinds(runs[0]).count("SpeechEnded") >= 1


class Recording(SpeechDetector):
    """The real detector, keeping every probability it gave."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        probs = super().probabilities(audio)
        self.seen.extend(probs.tolist())
        return probs


def test_a_turn_after_a_long_quiet_room_starts_on_its_first_word(first: Speech) -> None:
    # A minute of quiet room noise wore Silero's state down: the phrase that followed
    # scored ~0.55 instead of ~0.85 and the turn started late, its first word cut.
    room = np.random.default_rng(5).normal(0, 0.001, 60 * RATE).astype(np.float32)
    fresh, worn = Recording(), Recording()
    runs = []
    for detector, before in ((fresh, silence(0.5)), (worn, room)):
        stream = np.concatenate([before, first.audio, silence(1.0)])
        events = feed(Endpointer(detector=detector), stream)
        speech = slice(len(before) // FRAME, (len(before) + len(first.audio)) // FRAME)
        runs.append((events[0].at - len(before) / RATE, np.mean(detector.seen[speech])))
        assert kinds(events)[0] == "SpeechStarted" and kinds(events)[-1] == "SpeechEnded"
    (fresh_start, fresh_p), (worn_start, worn_p) = runs
    assert worn_p >= fresh_p - 0.05, runs
    assert worn_start <= fresh_start + FRAME / RATE, runs


@pytest.mark.parametrize("ms", [60, 120])
def test_a_burst_shorter_than_min_speech_is_ignored(first: Speech, ms: int) -> None:
    begin = int(first.start * RATE)
    burst = first.audio[begin : begin + ms * RATE // 1000]  # the first sound of a word
    stream = np.concatenate([silence(0.5), burst, silence(1.0)])
    assert feed(Endpointer(min_speech_ms=200), stream) == []
    # A real burst: long enough to trip the detector, not to start a turn.
    if ms == 120:
        probs = SpeechDetector().probabilities(stream[: len(stream) // FRAME * FRAME])
        assert probs.max() >= 0.5


def test_clicks_silence_and_quiet_noise_report_nothing() -> None:
    rng = np.random.default_rng(3)
    click = np.zeros(RATE // 2, np.float32)
    click[4000:4080] = 0.9  # 5 ms pulses
    click[6000:6080] = -0.9
    quiet = rng.normal(0, 0.003, 3 * RATE).astype(np.float32)
    hum = (0.01 * np.sin(2 * np.pi * 50 * np.arange(2 * RATE) / RATE)).astype(np.float32)
    endpointer = Endpointer()
    for audio in (silence(2.0), click, quiet, hum):
        assert feed(endpointer, audio) == []
    assert not endpointer.in_speech


def test_the_longest_utterance_is_cut(first: Speech) -> None:
    stream = np.concatenate([silence(0.3), first.audio, silence(0.8)])
    events = feed(Endpointer(max_speech_s=0.6, min_speech_ms=100), stream)
    cut = next(e for e in events if isinstance(e, SpeechEnded))
    assert cut.speech_end == pytest.approx(cut.at)  # mid-speech
    assert len(cut.audio) / RATE == pytest.approx(0.6 + 0.2, abs=0.07)  # + leading padding
    assert kinds(events).count("SpeechStarted") >= 2  # the rest of the phrase is a new turn


def test_flush_ends_the_turn_at_once_and_reset_starts_over(first: Speech) -> None:
    endpointer = Endpointer()
    events = feed(endpointer, np.concatenate([silence(0.3), first.audio]))
    assert kinds(events)[:1] == ["SpeechStarted"] and endpointer.in_speech
    (ended,) = endpointer.flush()
    assert isinstance(ended, SpeechEnded) and not endpointer.in_speech
    assert abs(ended.speech_end - (0.3 + first.end)) <= 0.1
    assert endpointer.flush() == []

    endpointer.reset()
    again = feed(endpointer, np.concatenate([silence(0.3), first.audio]))
    assert [(type(e), e.at) for e in again] == [(type(e), e.at) for e in events]


def test_end_after_sets_the_window_of_the_pause_in_progress_only(speech: SpeechMaker) -> None:
    said = speech("Tell me a joke.")
    stream = np.concatenate([silence(0.3), said.audio, silence(1.5)])
    paused = int((0.3 + said.end + 0.35) * RATE)  # 350 ms into the silence after it
    endpointer = Endpointer(silence_ms=1000, pause_ms=150)
    events = feed(endpointer, stream[:paused])
    assert kinds(events) == ["SpeechStarted", "SpeechPaused"]
    # The caller read the pause: a short window, already over, so the turn ends now.
    (ended,) = endpointer.end_after(200)
    assert isinstance(ended, SpeechEnded) and ended.at - ended.speech_end < 0.4
    assert endpointer.end_after(200) == []  # no pause in progress
    # The next turn starts again from the window it was made with.
    again = feed(endpointer, stream)
    assert kinds(again) == ["SpeechStarted", "SpeechPaused", "SpeechEnded"]
    assert again[-1].at - again[-1].speech_end >= 1.0  # type: ignore[union-attr]
