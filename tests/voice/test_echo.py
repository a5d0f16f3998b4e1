"""The echo guard on real speech and the real VAD: our own voice heard back is
silence, the person's voice over it is not, and silence stays silence."""

from __future__ import annotations

import numpy as np

from hearth.engines.vad import Endpointer, SpeechStarted
from hearth.voice.echo import EchoGuard
from tests.utils.speech import RATE, SpeechMaker

CHUNK = 320  # 20 ms, as a client sends
DELAY = int(0.12 * RATE)  # speaker to microphone


def reply(speech: SpeechMaker) -> np.ndarray:
    return np.concatenate([speech("Once upon a time a little fox lived at the edge of "
                                  "a great forest, and every morning he ran to the river.").audio,
                           speech("He was brave, and he was kind to every creature.").audio])


def heard(guard: EchoGuard, mic: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """What the guard lets through of `mic`, and where the VAD finds speech starting in it."""
    vad = Endpointer()
    out, started = [], []
    for end in range(CHUNK, len(mic) + 1, CHUNK):
        kept = guard.filter(mic[end - CHUNK : end], end)
        out.append(kept)
        started += [e.at for e in vad.feed(kept) if isinstance(e, SpeechStarted)]
    return np.concatenate(out), started


def playing(audio: np.ndarray, at: int = RATE) -> EchoGuard:
    guard = EchoGuard()
    guard.play(audio, at)
    return guard


def room(audio: np.ndarray, at: int, gain: float = 0.6) -> np.ndarray:
    """What a microphone beside the speaker records of `audio` played from `at`."""
    mic = np.zeros(at + DELAY + len(audio) + RATE, np.float32)
    mic[at + DELAY : at + DELAY + len(audio)] = gain * audio
    return mic


def test_our_voice_heard_back_is_silence(speech: SpeechMaker) -> None:
    ours = reply(speech)
    _, started = heard(playing(ours), room(ours, RATE))
    assert started == []


def test_silence_stays_silence_when_the_echo_stops(speech: SpeechMaker) -> None:
    # The microphone stops hearing the reply while it is still playing (the client's own
    # echo cancellation took over, the speaker was muted): subtracting our voice from
    # silence would speak it, inverted, to the VAD.
    ours = reply(speech)
    for cut in range(RATE + DELAY + RATE // 2, RATE + len(ours), RATE // 2):
        mic = room(ours, RATE)
        mic[cut:] = 0.0
        out, started = heard(playing(ours), mic)
        assert started == [], cut / RATE
        assert not out[cut + CHUNK :].any(), cut / RATE


def test_the_person_speaking_over_the_reply_is_heard(speech: SpeechMaker) -> None:
    ours = reply(speech)
    mic = room(ours, RATE)
    person = speech("Wait, stop, I have a question.").audio
    at = 2 * RATE
    mic[at : at + len(person)] += person
    _, started = heard(playing(ours), mic)
    assert len(started) >= 1 and abs(started[0] - at / RATE) < 0.5, started
