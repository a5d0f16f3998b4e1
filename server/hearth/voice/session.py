"""One conversation held by voice: audio frames in, events and reply audio out.

    frames ─► echo guard ─► VAD endpointing ─► STT ─► Chat.send ─► sentence splitter ─► TTS ─► output
                                 ▲                                                          │
                                 └──────── the user speaks over the reply: barge-in ◄──────┘

Every turn has an id; its audio goes out tagged with it, and an interrupted turn
is cancelled whole (generation, queued sentences, queued audio). The reply that
stays stored is what the user heard, marked `interrupted`.

Work starts before the user is done when it can: a pause in the speech starts
transcription, and if the pause turns out to be the end of the turn, that
transcript is used. The same session serves the LAN WebSocket and `hearth talk`;
they differ only in the `VoiceOutput` they hand in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hearth.characters import voice_of
from hearth.chat import ReplyDelta, TurnFinished, TurnStarted
from hearth.engines.vad import (
    Endpointer,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
)
from hearth.errors import HearthError
from hearth.store import User
from hearth.voice.echo import RATE, EchoGuard
from hearth.voice.speakable import SentenceSplitter

log = logging.getLogger(__name__)


class VoiceOutput(Protocol):
    """Where a session's events and reply audio go (a socket, a speaker)."""

    async def event(self, event: dict[str, Any]) -> None: ...

    async def audio(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        """int16 mono audio of `turn`, to be played after what was sent before."""

    def cancel(self, turn: int) -> float | None:
        """Drop `turn`'s audio not yet played; return the seconds played, if known."""


@dataclass
class _Spoken:
    text: str
    start: float  # wall clock when it starts playing (estimated)
    seconds: float


@dataclass
class _Turn:
    id: int
    task: asyncio.Task[None] | None = None
    user_message_id: int | None = None
    reply_id: int | None = None
    spoken: list[_Spoken] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    finished: bool = False

    def audible_until(self) -> float:
        return max((s.start + s.seconds for s in self.spoken), default=0.0)

    def busy(self, now: float) -> bool:
        """Still generating or still being heard."""
        return not self.finished or now < self.audible_until()

    def played(self, now: float) -> float:
        return sum(min(max(now - s.start, 0.0), s.seconds) for s in self.spoken)

    def heard(self, played: float) -> str:
        """The words of the reply that `played` seconds of its audio carried."""
        words: list[str] = []
        for s in self.spoken:
            if played >= s.seconds:
                words.append(s.text)
            elif played > 0:
                part = s.text.split()
                words.append(" ".join(part[: int(len(part) * played / s.seconds)]))
            played -= s.seconds
        return " ".join(w for w in words if w)


class VoiceSession:
    def __init__(self, services: Any, user: User, conversation_id: int,
                 output: VoiceOutput) -> None:
        store = services.store
        conversation = store.conversations.get(conversation_id, user_id=user.id)
        character = store.characters.get(conversation.character_id)
        self.services = services
        self.user = user
        self.conversation_id = conversation.id
        self.output = output
        self.voice = voice_of(character.data, default=services.settings.voice.default_voice)
        self.rate = services.speaker().sample_rate(self.voice.name)
        cfg = services.settings.voice
        self.endpointer = Endpointer(threshold=cfg.vad_threshold, silence_ms=cfg.silence_ms,
                                     min_speech_ms=cfg.min_speech_ms)
        self.echo = EchoGuard()
        self.samples = 0  # input stream position, in 16 kHz samples
        self._play_end = 0  # where, on the input timeline, our queued audio ends
        self._turns = 0
        self.turn: _Turn | None = None
        self._early: asyncio.Task[tuple[str, float]] | None = None  # transcript started in a pause
        self._warm: asyncio.Task[None] | None = None  # its prompt, evaluated in the same pause

    # -- input -----------------------------------------------------------------------

    async def feed(self, pcm: np.ndarray) -> None:
        """Microphone input: float32 mono at 16 kHz, any chunk size, in real time."""
        self.samples += len(pcm)
        heard = self.echo.filter(pcm, self.samples)
        for event in self.endpointer.feed(heard):
            await self._on(event)

    async def end_of_speech(self) -> None:
        """Push-to-talk released: the utterance ends now, without waiting for silence."""
        for event in self.endpointer.flush():
            await self._on(event)

    async def say(self, text: str) -> None:
        """A typed turn in the voice conversation (no speech-to-text)."""
        await self.interrupt()
        self._start_turn(self._transcript_of(text), time.time(), {})

    async def _on(self, event: object) -> None:
        if isinstance(event, SpeechStarted):
            await self.output.event({"type": "speech_started"})
            self._stop_warming()
            await self.interrupt()
        elif isinstance(event, SpeechPaused):
            # Perhaps the end: transcribe now, and evaluate the prompt the transcript
            # would get, so that if the silence lasts, the reply starts at once.
            self._early = asyncio.create_task(self._transcribe(event.audio))
            self._warm = asyncio.create_task(self._prepare(self._early))
        elif isinstance(event, SpeechResumed):
            self._early = None  # the pause was not the end; its transcript is stale
            self._stop_warming()
        elif isinstance(event, SpeechEnded):
            now = time.time()
            speech_end = now - (self.samples / RATE - event.speech_end)
            await self.output.event({"type": "speech_stopped"})
            early, self._early = self._early, None
            transcript = early if early is not None else self._transcribe(event.audio)
            timings = {"endpoint_ms": (event.at - event.speech_end) * 1000}
            self._start_turn(transcript, speech_end, timings)

    async def _prepare(self, transcript: asyncio.Task[tuple[str, float]]) -> None:
        text, _ = await asyncio.shield(transcript)
        if text:
            try:
                await self.services.chat.prepare(self.user, self.conversation_id, text)
            except HearthError:
                pass  # the turn itself will report it

    def _stop_warming(self) -> None:
        if self._warm is not None:
            self._warm.cancel()
            self._warm = None

    async def _transcribe(self, audio: np.ndarray) -> tuple[str, float]:
        started = time.perf_counter()
        transcriber = self.services.transcriber()
        result = await asyncio.to_thread(transcriber.transcribe, audio)
        return result.text.strip(), (time.perf_counter() - started) * 1000

    @staticmethod
    async def _transcript_of(text: str) -> tuple[str, float]:
        return text.strip(), 0.0

    # -- turns -----------------------------------------------------------------------

    def _start_turn(self, transcript: Awaitable[tuple[str, float]], speech_end: float,
                    timings: dict[str, float]) -> None:
        self._turns += 1
        turn = _Turn(self._turns, timings=timings)
        self.turn = turn
        turn.task = asyncio.create_task(self._run(turn, transcript, speech_end))

    async def _run(self, turn: _Turn, transcript: Awaitable[tuple[str, float]],
                   speech_end: float) -> None:
        emit = self.output.event
        try:
            waited = time.perf_counter()
            text, turn.timings["stt_ms"] = await transcript
            turn.timings["stt_wait_ms"] = (time.perf_counter() - waited) * 1000
            await emit({"type": "transcript", "turn": turn.id, "text": text})
            if not text:
                return
            await self._converse(turn, text, speech_end)
        except asyncio.CancelledError:
            raise
        except HearthError as e:
            await emit({"type": "error", "turn": turn.id, "code": e.code, "message": e.message})
        except Exception:
            log.exception("voice turn %s failed", turn.id)
            await emit({"type": "error", "turn": turn.id, "code": "internal",
                        "message": "the turn failed on the server; see its log"})
        finally:
            turn.finished = True

    async def _converse(self, turn: _Turn, text: str, speech_end: float) -> None:
        emit = self.output.event
        started = time.perf_counter()
        since = lambda: (time.perf_counter() - started) * 1000  # noqa: E731
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        heard_first = asyncio.Event()
        speaking = asyncio.create_task(
            self._speak(turn, sentences, since, speech_end, heard_first))
        splitter = SentenceSplitter()
        usage = None
        try:
            async with aclosing(self.services.chat.send(self.user, self.conversation_id,
                                                        text)) as events:
                async for event in events:
                    if isinstance(event, TurnStarted):
                        assert event.user_message is not None
                        turn.user_message_id = event.user_message.id
                        await emit({"type": "turn_started", "turn": turn.id,
                                    "user_message_id": event.user_message.id,
                                    "sample_rate": self.rate})
                    elif isinstance(event, ReplyDelta):
                        turn.timings.setdefault("ttft_ms", since())
                        await emit({"type": "reply_delta", "turn": turn.id, "text": event.text})
                        for sentence in splitter.feed(event.text):
                            turn.timings.setdefault("first_sentence_ms", since())
                            sentences.put_nowait(sentence)
                        if not sentences.empty() and not heard_first.is_set():
                            # Two cores can't generate and synthesise at full speed at
                            # once: the first audio goes first, generation waits for it.
                            await heard_first.wait()
                    elif isinstance(event, TurnFinished):
                        usage = event.usage
                        turn.reply_id = event.message.id
            for sentence in splitter.flush():
                turn.timings.setdefault("first_sentence_ms", since())
                sentences.put_nowait(sentence)
            sentences.put_nowait(None)
            await speaking
        finally:
            speaking.cancel()
        timings = {k: round(v, 1) for k, v in turn.timings.items()}
        if usage is not None:
            timings.update(prompt_tokens=usage.prompt_tokens,
                           prompt_tokens_reused=usage.prompt_tokens_reused)
        await emit({"type": "turn_finished", "turn": turn.id,
                    "message_id": turn.reply_id, "timings": timings})

    async def _speak(self, turn: _Turn, sentences: asyncio.Queue[str | None],
                     since: Callable[[], float], speech_end: float,
                     heard_first: asyncio.Event) -> None:
        speaker = self.services.speaker()
        voice = self.voice
        try:
            while (sentence := await sentences.get()) is not None:
                synth = time.perf_counter()
                chunks = await asyncio.to_thread(
                    lambda s=sentence: list(speaker.synthesize(s, voice=voice.name,
                                                               speaker=voice.speaker,
                                                               speed=voice.speed)))
                if chunks:
                    pcm = np.concatenate(chunks)
                    if "first_audio_ms" not in turn.timings:
                        turn.timings["tts_first_ms"] = (time.perf_counter() - synth) * 1000
                        turn.timings["first_audio_ms"] = since()
                        turn.timings["voice_to_voice_ms"] = (time.time() - speech_end) * 1000
                    self._play(turn, sentence, pcm)
                    await self.output.audio(turn.id, pcm, self.rate)
                heard_first.set()
        finally:
            heard_first.set()  # never leave the reply waiting on audio that won't come

    def _play(self, turn: _Turn, text: str, pcm: np.ndarray) -> None:
        """Note when this audio will be heard, for the echo guard and for barge-in."""
        seconds = len(pcm) / self.rate
        now = time.time()
        start = max(now, turn.audible_until())
        turn.spoken.append(_Spoken(text, start, seconds))
        at = max(self.samples, self._play_end)
        heard = np.interp(np.arange(0, len(pcm), self.rate / RATE), np.arange(len(pcm)),
                          pcm.astype(np.float32) / 32768)
        self._play_end = self.echo.play(heard.astype(np.float32), at)

    async def interrupt(self) -> None:
        """Barge-in: stop the current turn now and keep only what was heard of it."""
        turn = self.turn
        now = time.time()
        if turn is None or not turn.busy(now):
            return
        if turn.task is not None and not turn.task.done():
            turn.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await turn.task
        played = self.output.cancel(turn.id)
        heard = turn.heard(turn.played(now) if played is None else played)
        self.echo.clear()
        self._play_end = self.samples
        reply = None
        if turn.user_message_id is not None:
            reply = self.services.chat.cut_reply(self.user, turn.user_message_id, heard)
        await self.output.event({"type": "interrupted", "turn": turn.id, "heard": heard,
                                 "message_id": reply.id if reply else None})

    async def drain(self) -> None:
        """Wait for the current turn to finish generating and synthesising."""
        if self.turn is not None and self.turn.task is not None:
            await asyncio.wait([self.turn.task])

    async def close(self) -> None:
        """The client went away: stop what is running (what was heard stays stored)."""
        self._stop_warming()
        await self.interrupt()
