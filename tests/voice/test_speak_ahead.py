"""The reply begun in the pause: when the pause ends the turn, its first piece, written
and synthesised while the person was quiet, is what plays first, and the stored reply
goes on from its text; when the person goes on speaking, it is dropped unheard.

Everything is real (Silero, Whisper, Smart Turn, the chat model, Piper); the session's
output is a recorder. The outcomes do not depend on how fast this machine is: a turn
waits for the piece its pause began, and the pause before speech resumes is held open
(the stream stops) until its guess is made.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from hearth.engines.llm import ChatMessage, SamplingParams
from hearth.store import Message
from hearth.voice.events import ReplyDelta, Transcript, TurnFinished, VoiceEvent
from hearth.voice.session import FIRST_PIECE, VoiceSession
from hearth.voice.speakable import SentenceSplitter
from tests.utils.speech import RATE, SpeechMaker, silence


class Recorder:
    """A `VoiceOutput` that keeps the events and every piece of audio it is handed."""

    def __init__(self) -> None:
        self.events: list[VoiceEvent] = []
        self.played: list[tuple[int, np.ndarray]] = []

    async def event(self, event: VoiceEvent) -> None:
        self.events.append(event)

    async def audio(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        self.played.append((turn, pcm))

    def cancel(self, turn: int) -> float | None:
        return None

    def of(self, kind: type, turn: int | None = None) -> list[Any]:
        return [e for e in self.events
                if isinstance(e, kind) and (turn is None or e.turn == turn)]


async def talk(session: VoiceSession, audio: np.ndarray, *, hold_first_pause: bool = False
               ) -> list[asyncio.Task[Any]]:
    """Feed `audio` as a microphone would (20 ms frames, in real time) and return each
    pause's reply-ahead task. `hold_first_pause`: at the first pause, stop the stream
    until its guess is made (the person simply paused that long)."""
    begun: list[asyncio.Task[Any]] = []
    start = time.monotonic()
    for i in range(0, len(audio), 320):
        await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
        await session.feed(audio[i : i + 320])
        task = session._ahead
        if task is not None and task not in begun:
            begun.append(task)
            if hold_first_pause and len(begun) == 1:
                await asyncio.wait([task])
                start = time.monotonic() - (i + 320) / RATE  # the stream goes on from here
    await session.drain()
    return begun


def spoken(speech: SpeechMaker, *parts: tuple[str, float]) -> np.ndarray:
    """Phrases with the given seconds of silence after each, trimmed to their voice."""
    out = [silence(0.3)]
    for text, after in parts:
        said = speech(text)
        out += [said.audio[int(said.start * RATE): int(said.end * RATE)], silence(after)]
    return np.concatenate(out)


def first_piece(text: str) -> str:
    splitter = SentenceSplitter(**FIRST_PIECE)
    return (splitter.feed(text) + splitter.flush())[0]


def call(services: Any, audio: np.ndarray, *, hold_first_pause: bool = False
         ) -> tuple[Recorder, list[asyncio.Task[Any]], list[Message]]:
    """A voice call with the reply begun in pauses: what was played and said, each pause's
    task, and the conversation as stored when the call's work was done."""
    services.settings.voice.begin_in_pause = True
    character = services.store.characters.list()[0]
    output = Recorder()

    async def run() -> tuple[list[asyncio.Task[Any]], list[Message]]:
        conversation = services.chat.start_conversation(services.user, character.id)
        session = VoiceSession(services, services.user, conversation.id, output)
        begun = await talk(session, audio, hold_first_pause=hold_first_pause)
        stored = services.store.messages.list(conversation.id)  # before close cuts the reply
        await session.close()
        return begun, stored

    begun, stored = asyncio.run(run())
    return output, begun, stored


def test_a_finished_utterance_hears_the_piece_begun_in_its_pause_first(
    start_services: Any, speech: SpeechMaker
) -> None:
    audio = spoken(speech, ("What is your favourite season of the year?", 1.5))
    output, begun, messages = call(start_services(), audio)
    (transcript,) = output.of(Transcript)
    assert "season" in transcript.text.lower(), transcript
    ahead = begun[-1].result()  # the last pause's: the one that ended the turn
    assert ahead is not None and ahead.transcript == transcript.text
    (finished,) = output.of(TurnFinished, transcript.turn)
    assert finished.timings.ahead_ms is not None and finished.timings.voice_to_voice_ms > 0

    # What plays first is the audio made in the pause, saying the reply's first piece.
    turn, first = output.played[0]
    assert turn == transcript.turn and first is ahead.pcm
    assert ahead.sentence == first_piece(ahead.reply)
    # The reply goes on from the text begun in the pause (its first delta), stored once.
    deltas = [e.text for e in output.of(ReplyDelta, transcript.turn)]
    assert deltas[0] == ahead.reply
    said, reply = messages[-2:]
    assert said.role == "user" and said.content == transcript.text
    assert reply.role == "assistant" and reply.id == finished.message_id
    assert reply.content == "".join(deltas).strip() and reply.status == "complete"
    assert reply.content.startswith(ahead.reply.strip())


def test_speech_that_resumes_after_a_pause_drops_what_the_pause_began(
    start_services: Any, speech: SpeechMaker
) -> None:
    # A thinking pause after "to the" (its words lead on: the long window holds it).
    audio = spoken(speech, ("I was thinking that we could go to the", 0.7),
                   ("park tomorrow afternoon.", 1.5))
    output, begun, messages = call(start_services(), audio, hold_first_pause=True)
    assert len(begun) >= 2
    stale = begun[0].result()
    assert stale is not None  # the first pause did begin a reply, with audio ready
    assert "park" not in stale.transcript.lower()

    (transcript,) = output.of(Transcript)  # one turn: the whole sentence
    said_words = transcript.text.lower()
    assert "thinking" in said_words and "tomorrow afternoon" in said_words, said_words
    ahead = begun[-1].result()
    assert ahead is not None and ahead.transcript == transcript.text
    # None of the dropped guess was heard; the reply to the whole sentence was.
    assert all(pcm is not stale.pcm for _, pcm in output.played)
    assert output.played[0][1] is ahead.pcm
    assert {turn for turn, _ in output.played} == {transcript.turn}
    (finished,) = output.of(TurnFinished)
    deltas = [e.text for e in output.of(ReplyDelta, transcript.turn)]
    assert deltas[0] == ahead.reply
    # Stored once: the greeting, the whole sentence, its reply.
    assert [m.role for m in messages[-2:]] == ["user", "assistant"]
    assert len([m for m in messages if m.role == "user"]) == 1
    assert messages[-2].content == transcript.text
    assert messages[-1].id == finished.message_id
    assert messages[-1].content.startswith(ahead.reply.strip())


def test_while_the_person_speaks_their_words_so_far_are_prepared_and_background_waits(
    start_services: Any, speech: SpeechMaker
) -> None:
    audio = spoken(speech, ("I was thinking about the long walk we took along the river "
                            "with my sister last summer.", 1.5))
    services = start_services()
    services.settings.voice.begin_in_pause = True
    output = Recorder()
    prepared: list[tuple[int, str]] = []  # (events seen by then, the words prepared)
    prepare = services.chat.prepare

    async def spy(user: Any, conversation_id: int, content: str) -> None:
        prepared.append((len(output.events), content))
        await prepare(user, conversation_id, content)

    services.chat.prepare = spy
    background: list[int] = []  # events seen when held background work got the model

    async def summary_meanwhile(session: VoiceSession) -> None:
        while session._held is None:  # the person has started speaking
            await asyncio.sleep(0.01)
        model = services.chat.model
        prompt = model.render([ChatMessage("user", "Summarise: a walk by a river.")])
        async for _ in model.stream(prompt, SamplingParams(max_tokens=2), background=True):
            background.append(len(output.events))

    async def run() -> None:
        character = services.store.characters.list()[0]
        conversation = services.chat.start_conversation(services.user, character.id)
        await services.jobs.join()  # the new conversation's own preparation is done
        session = VoiceSession(services, services.user, conversation.id, output)
        meanwhile = asyncio.create_task(summary_meanwhile(session))
        await talk(session, audio)
        await asyncio.wait_for(meanwhile, 60)
        await session.close()

    asyncio.run(run())
    (transcript,) = output.of(Transcript)
    # Read while they spoke (before their turn's transcript), from their first words on.
    assert prepared and prepared[0][0] < output.events.index(transcript), prepared
    heard = transcript.text.lower().split()
    assert prepared[0][1].lower().split()[:2] == heard[:2], (prepared, heard)
    # The background request waited until the turn was answered.
    (finished,) = output.of(TurnFinished)
    assert background and background[0] > output.events.index(finished), background
