"""When a pause ends a turn: the word tables, Smart Turn on real speech, and the voice
session keeping a sentence with a thinking pause in it as one turn."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from hearth.config import DEFAULT_SMART_TURN_MODEL
from hearth.engines import vad
from hearth.engines.smart_turn import SmartTurn
from hearth.voice.events import Transcript, VoiceEvent
from hearth.voice.session import VoiceSession
from hearth.voice.turn_end import TurnEnd, Verdict, verdict
from tests.utils.speech import RATE, SpeechMaker, silence

FINISHED = ["Tell me a joke.", "Are you okay?", "What time is it in Tokyo right now?",
            "I passed my driving test!", "어제 친구를 만났어요.", "어디 가?",
            "昨日友達に会いました。"]
UNFINISHED = ["I was thinking that we could go to the.", "My sister called me and",
              "I can't sleep because.", "I wanted to ask you about", "It was great, but",
              "My favourite kind of music is um", "I think that,", "and then...",
              "Let me think…", "어제 부산에 가서", "날씨가 좋은데", "昨日友達に会って",
              "雨が降ったけど"]
# A question on a preposition may be done ("Where are you from?") or not ("…recipe for").
UNSURE = ["", "I think so.", "Wait.", "Honestly.", "When I got home.", "Where are you from?",
          "Do you know a good recipe for?",
          "I bought a new", "Je pense que."]


@pytest.mark.parametrize("text", FINISHED)
def test_a_finished_sentence_is_finished(text: str) -> None:
    assert verdict(text) is Verdict.FINISHED


@pytest.mark.parametrize("text", UNFINISHED)
def test_a_sentence_that_leads_on_is_unfinished(text: str) -> None:
    assert verdict(text) is Verdict.UNFINISHED


@pytest.mark.parametrize("text", UNSURE)
def test_words_that_do_not_tell_are_unsure(text: str) -> None:
    language = "fr" if text.startswith("Je") else "en"
    assert verdict(text, language) is Verdict.UNSURE


def test_windows_follow_the_words_and_smart_turn_must_agree_for_the_short_one() -> None:
    ends = TurnEnd(short_ms=200, base_ms=400, long_ms=1000)
    assert ends.window("Tell me a joke.") == 200
    assert ends.window("Tell me about the") == 1000
    assert ends.window("I think so.") == 400
    assert ends.window("Tell me a joke.", finished=0.9) == 200
    assert ends.window("Tell me a joke.", finished=0.2) == 1000  # the voice goes on
    assert ends.window("Tell me a joke.", finished=0.6) == 1000  # not sure enough to cut
    assert ends.window("I think so.", finished=0.9) == 1000  # with an ear, unsure waits


def test_a_closing_mark_whisper_was_unsure_of_is_read_as_no_mark() -> None:
    """A full stop given less than even odds is Whisper hearing a voice that goes on
    ("…call me, [pause] but"): not finished, whatever the words."""
    assert verdict("She said that she would call me.", stop_p=0.9) is Verdict.FINISHED
    assert verdict("She said that she would call me.", stop_p=0.4) is Verdict.UNSURE
    assert verdict("Where are you going?", stop_p=0.3) is Verdict.UNSURE
    assert verdict("어제 친구를 만났어요.", stop_p=0.3) is Verdict.UNSURE
    assert verdict(".", stop_p=0.1) is Verdict.UNSURE
    # What leads on still leads on, however sure the mark.
    assert verdict("I can't sleep because.", stop_p=0.2) is Verdict.UNFINISHED
    assert verdict("It was great, but...", stop_p=0.2) is Verdict.UNFINISHED
    ends = TurnEnd(short_ms=200, base_ms=400, long_ms=1000)
    assert ends.window("Tell me a joke.", finished=0.9, stop_p=0.8) == 200
    assert ends.window("Tell me a joke.", finished=0.9, stop_p=0.3) == 1000


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    if not DEFAULT_SMART_TURN_MODEL.is_file():
        pytest.fail(f"{DEFAULT_SMART_TURN_MODEL} is missing: run "
                    "`python scripts/install_models.py`")
    return SmartTurn(DEFAULT_SMART_TURN_MODEL)


def test_smart_turn_hears_a_finished_question_and_a_sentence_cut_short(
    smart_turn: SmartTurn, speech: SpeechMaker
) -> None:
    done = speech("What time is it in Tokyo right now?")
    cut = speech("I can't sleep tonight because")
    assert smart_turn.finished(np.concatenate([done.audio[: int(done.end * RATE)],
                                               silence(0.15)])) > 0.8
    assert smart_turn.finished(np.concatenate([cut.audio[: int(cut.end * RATE)],
                                               silence(0.15)])) < 0.2


class Recorder:
    """A `VoiceOutput` that keeps the events; reply audio is not needed here."""

    def __init__(self) -> None:
        self.events: list[VoiceEvent] = []

    async def event(self, event: VoiceEvent) -> None:
        self.events.append(event)

    async def audio(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        pass

    def cancel(self, turn: int) -> float | None:
        return None


def paused_sentence(speech: SpeechMaker) -> np.ndarray:
    """"I was thinking that we could go to the … park tomorrow afternoon." with 700 ms
    of thinking between the two halves."""
    first = speech("I was thinking that we could go to the")
    second = speech("park tomorrow afternoon.")
    return np.concatenate([silence(0.3), first.audio[: int(first.end * RATE)], silence(0.7),
                           second.audio[int(second.start * RATE):], silence(1.5)])


def test_the_fixed_window_splits_the_sentence_at_its_pause(speech: SpeechMaker) -> None:
    endpointer = vad.Endpointer(silence_ms=400)
    ends = [e for e in endpointer.feed(paused_sentence(speech))
            if isinstance(e, vad.SpeechEnded)]
    assert len(ends) == 2


def test_the_session_keeps_a_sentence_with_a_thinking_pause_as_one_turn(
    start_services: Any, speech: SpeechMaker, smart_turn: SmartTurn
) -> None:
    services = start_services()
    assert services.settings.voice.end_of_turn == "smart"  # the default
    audio = paused_sentence(speech)
    output = Recorder()

    async def call() -> None:
        character = services.store.characters.list()[0]
        conversation = services.chat.start_conversation(services.user, character.id)
        session = VoiceSession(services, services.user, conversation.id, output)
        assert session.smart_turn is not None
        ear = session.smart_turn.finished

        def listening(audio: np.ndarray) -> float:
            heard.append(len(audio) / RATE)
            return ear(audio)

        session.smart_turn.finished = listening  # type: ignore[method-assign]
        start = time.monotonic()
        for i in range(0, len(audio), 320):  # 20 ms frames, as a microphone sends them
            await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
            await session.feed(audio[i : i + 320])
        await session.drain()
        await session.close()

    heard: list[float] = []  # seconds of audio Smart Turn was asked about
    asyncio.run(call())
    (transcript,) = [e for e in output.events if isinstance(e, Transcript)]
    said = transcript.text.lower()
    assert "thinking" in said and "tomorrow afternoon" in said, said
    # The pause after "…go to the" was not played to Smart Turn: its words lead on, so the
    # long window held whatever it heard. The end of the sentence was.
    assert heard and min(heard) > 2.5, heard
