"""One conversation held by voice: audio frames in, events and reply audio out.

  frames ─► echo guard ─► VAD endpointing ─► STT ─► Chat.send ─► sentence splitter ─► TTS ─► output
                               ▲                                                          │
                               └──────── the user speaks over the reply: barge-in ◄──────┘

Every turn has an id; its audio goes out tagged with it, and an interrupted turn
is cancelled whole (generation, queued sentences, queued audio). The reply that
stays stored is what the user heard, marked `interrupted`.

Work starts before the user is done when it can. While they speak, what they said
so far is transcribed now and then and its prompt evaluated (`_listen_ahead`), and
background work (summaries, facts) waits. A pause in the speech starts
transcription, and if the pause turns out to be the end of the turn, that
transcript is used. In the same pause the reply is begun ahead (`_think_ahead`):
its prompt evaluated and, with `voice.begin_in_pause`, its first speakable piece
written and synthesised, nothing stored. If the person goes on speaking, that guess
is dropped unheard; if the pause was the end, the piece plays at once and the turn's
reply goes on from its text.
The same transcript chooses how long the pause must last to end the turn
(`turn_end`, with Smart Turn's ear for the voice): short after a finished
sentence, long after "and…".
The same session serves the LAN WebSocket and `hearth talk`; they differ only in
the `VoiceOutput` they hand in.

A message the character starts on its own in this conversation (`Message.reason`
set: a follow-up, a note on a date) is spoken like a reply, as a turn of its own,
once the call is idle: never over the person, nor over another reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hearth import chat
from hearth.characters import VoiceChoice, language_of, voice_of
from hearth.engines import vad
from hearth.engines.smart_turn import SmartTurn
from hearth.errors import HearthError
from hearth.feed import started_by_character
from hearth.store import Message, User
from hearth.voice.echo import RATE, EchoGuard
from hearth.voice.events import (
    Error,
    Interrupted,
    ReplyDelta,
    SpeechStarted,
    SpeechStopped,
    Timings,
    Transcript,
    TurnFinished,
    TurnStarted,
    VoiceEvent,
)
from hearth.voice.speakable import SentenceSplitter
from hearth.voice.turn_end import TurnEnd

if TYPE_CHECKING:
    from hearth.chat import Chat
    from hearth.choices import Choices
    from hearth.config import Settings, VoiceSettings
    from hearth.engines.stt import SpeechToText
    from hearth.engines.voices import Voices
    from hearth.feed import Feed
    from hearth.store import Store

log = logging.getLogger(__name__)

LISTEN_EVERY_S = 0.5  # while the person speaks, how often their words so far are read
LISTEN_FROM_S = 0.6  # the least audio worth reading
# How soon the first piece of a spoken reply may end: at a clause after one word ("Oh, …",
# "You're welcome, …"), before a clause-opening word after three ("I'm so glad | that …").
# The sooner it is written and synthesised, the sooner it is heard.
FIRST_PIECE = {"first_words": 1, "conjunction_words": 2}


class VoiceServices(Protocol):
    """What a voice session uses of a running Hearth (`hearth.services.Services`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...

    @property
    def chat(self) -> Chat: ...

    @property
    def choices(self) -> Choices: ...

    @property
    def feed(self) -> Feed: ...

    def speaker(self) -> Voices: ...

    def transcriber(self) -> SpeechToText: ...


class VoiceOutput(Protocol):
    """Where a session's events and reply audio go (a socket, a speaker)."""

    async def event(self, event: VoiceEvent) -> None: ...

    async def audio(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        """int16 mono audio of `turn`, to be played after what was sent before."""

    def cancel(self, turn: int) -> float | None:
        """Drop `turn`'s audio not yet played; return the seconds played, if known."""


@dataclass
class _Spoken:
    text: str
    start: float  # wall clock when it starts playing (estimated)
    seconds: float


@dataclass(frozen=True)
class _Heard:
    """A transcript of the person's speech (`VoiceSession._transcribe`)."""

    text: str
    stt_ms: float
    stop_p: float | None = None  # how sure Whisper was of its last token (`turn_end`)


@dataclass(frozen=True)
class _Ahead:
    """The start of a reply, made while the person paused (`VoiceSession._think_ahead`)."""

    transcript: str  # what it answers
    reply: str  # the model's text as written: the turn's reply goes on from it
    sentence: str  # its first speakable piece, which `pcm` says
    pcm: np.ndarray
    tts_ms: float
    ready: float  # wall clock when `pcm` was done


@dataclass
class _Turn:
    id: int
    task: asyncio.Task[None] | None = None
    user_message_id: int | None = None
    reply_id: int | None = None
    spoken: list[_Spoken] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
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


def smart_turn(cfg: VoiceSettings) -> SmartTurn | None:
    """Smart Turn v3 if its model is installed; without it the words alone decide."""
    if not cfg.smart_turn_model.is_file():
        log.warning("end_of_turn 'smart': %s is missing (run scripts/install_models.py); "
                    "the words alone choose when a turn ends", cfg.smart_turn_model)
        return None
    return SmartTurn(cfg.smart_turn_model)


def character_voice(services: VoiceServices, card: dict[str, Any], user: User) -> VoiceChoice:
    """How a character speaks to `user`: its card's voice; else the voice for the card's
    language, else for the person's (a Piper voice if one speaks it, else eSpeak NG's);
    else the default voice."""
    language = language_of(card) or user.language
    default = services.speaker().for_language(language, services.choices.default_voice)
    return voice_of(card, default=default)


class VoiceSession:
    input_rate = RATE  # what `feed` takes

    def __init__(self, services: VoiceServices, user: User, conversation_id: int,
                 output: VoiceOutput) -> None:
        store = services.store
        conversation = store.conversations.get(conversation_id, user_id=user.id)
        character = store.characters.get(conversation.character_id)
        self.services = services
        self.user = user
        self.conversation_id = conversation.id
        self.output = output
        self.voice = character_voice(services, character.data, user)
        self.rate = services.speaker().sample_rate(self.voice.name)
        cfg = services.settings.voice
        # Unless fixed, each pause is read and its window chosen (`_choose_window`); the
        # long window holds until then: on a busy CPU the reading can take longer than
        # silence_ms, and a thinking pause is not cut for that.
        self.turn_end = (TurnEnd(cfg.end_of_turn_short_ms, cfg.silence_ms,
                                 cfg.end_of_turn_long_ms)
                         if cfg.end_of_turn != "fixed" else None)
        self.smart_turn = smart_turn(cfg) if cfg.end_of_turn == "smart" else None
        self.endpointer = vad.Endpointer(
            threshold=cfg.vad_threshold,
            silence_ms=self.turn_end.long_ms if self.turn_end else cfg.silence_ms,
            min_speech_ms=cfg.min_speech_ms)
        self.language = user.language or cfg.language
        self.echo = EchoGuard()
        self.samples = 0  # input stream position, in 16 kHz samples
        self._fed_at = time.monotonic()  # when the latest input came
        self._play_end = 0  # where, on the input timeline, our queued audio ends
        self._turns = 0
        self.turn: _Turn | None = None
        self._early: asyncio.Task[_Heard] | None = None  # transcript started in a pause
        # The reply begun ahead in the same pause: its first piece, spoken if the pause ends it.
        self._ahead: asyncio.Task[_Ahead | None] | None = None
        self._deciding: asyncio.Task[None] | None = None  # how long this pause may last
        self._listening: asyncio.Task[None] | None = None  # `_listen_ahead`, while they speak
        self._held: Callable[[], None] | None = None  # background work held for this utterance
        self._quiet = asyncio.Event()  # set while the person is not in an utterance
        self._quiet.set()
        self._following = asyncio.create_task(self._follow_feed())
        self._closed = False

    # -- input -----------------------------------------------------------------------

    async def feed(self, pcm: np.ndarray) -> None:
        """Microphone input: float32 mono at 16 kHz, any chunk size, in real time."""
        self.samples += len(pcm)
        self._fed_at = time.monotonic()
        heard = self.echo.filter(pcm, self.samples)
        for event in self.endpointer.feed(heard):
            await self._on(event)

    async def end_of_speech(self) -> None:
        """Push-to-talk released: the utterance ends now, without waiting for silence."""
        for event in self.endpointer.flush():
            await self._on(event)

    async def say(self, text: str) -> None:
        """A typed turn in the voice conversation (no speech-to-text)."""
        self._stop_warming()  # a reply begun for a pause would only hold the model up
        await self.interrupt()
        self._start_turn(self._transcript_of(text), time.time(), Timings())

    async def _on(self, event: vad.VadEvent) -> None:
        if isinstance(event, vad.SpeechStarted):
            self._quiet.clear()
            self._held = self._held or self.services.chat.model.hold_background()
            await self.output.event(SpeechStarted())
            self._stop_warming()
            await self.interrupt()
            self._listen()
        elif isinstance(event, vad.SpeechPaused):
            # Perhaps the end: transcribe now, and begin the reply to the transcript, so
            # that if the silence lasts, its first words are ready to play.
            self._stop_listening()
            self._early = asyncio.create_task(self._transcribe(event.audio))
            self._ahead = asyncio.create_task(self._think_ahead(self._early))
            if self.turn_end is not None:
                self._deciding = asyncio.create_task(
                    self._choose_window(self._early, event.audio))
        elif isinstance(event, vad.SpeechResumed):
            self._early = None  # the pause was not the end; its transcript is stale
            self._stop_warming()
            self._listen()
        elif isinstance(event, vad.SpeechEnded):
            self._stop_listening()
            now = time.time()
            speech_end = now - (self.samples / RATE - event.speech_end)
            await self.output.event(SpeechStopped())
            early, self._early = self._early, None
            ahead, self._ahead = self._ahead, None  # the turn takes over the pause's work
            transcript = early if early is not None else self._transcribe(event.audio)
            timings = Timings(endpoint_ms=(event.at - event.speech_end) * 1000)
            # Background work stays held until the turn is answered.
            self._start_turn(transcript, speech_end, timings, ahead, release=self._held)
            self._held = None
            self._quiet.set()  # only now: their turn goes before anything waiting to be said

    async def _choose_window(self, early: asyncio.Task[_Heard], audio: np.ndarray) -> None:
        """Read the pause (its transcript; with Smart Turn, then its sound too) and end
        the turn after the silence that calls for: at once if the pause has lasted that
        long already. Cancelled if speech resumes first."""
        assert self.turn_end is not None
        try:
            said = await asyncio.shield(early)
            finished = None
            if self.smart_turn is not None:
                # After the transcript, not beside it: on two cores they slowed each
                # other, and the reply begun in the pause waits for the transcript.
                finished = (await asyncio.to_thread(self.smart_turn.finished, audio)
                            if self.turn_end.needs_voice(said.text, self.language, said.stop_p)
                            else 0.0)
        except Exception:  # the turn reports a failed transcription; the long window holds
            log.exception("could not read the pause")
            return
        for event in self.endpointer.end_after(
                self.turn_end.window(said.text, self.language, finished, said.stop_p)):
            await self._on(event)  # the pause was already long enough

    def _listen(self) -> None:
        self._stop_listening()
        self._listening = asyncio.create_task(self._listen_ahead())

    def _stop_listening(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            self._listening = None

    async def _listen_ahead(self) -> None:
        """While the person speaks, transcribe what they said so far every half second and
        evaluate the prompt it would get (`Chat.prepare`): when they pause, most of the
        prompt is in the cache, and the pause evaluates only what changed (their last
        words; the memories recalled for them, where those differ). Cancelled when they
        pause or finish."""
        said = ""
        while True:
            await asyncio.sleep(LISTEN_EVERY_S)
            audio = self.endpointer.heard_so_far()
            if len(audio) < LISTEN_FROM_S * RATE:
                continue
            text = (await self._transcribe(audio)).text
            if text and text != said:
                said = text
                with contextlib.suppress(HearthError):  # the turn itself will report it
                    await self.services.chat.prepare(self.user, self.conversation_id, text)

    async def _think_ahead(self, transcript: asyncio.Task[_Heard]) -> _Ahead | None:
        """Begin the reply to the pause's transcript: evaluate its prompt and, with
        `voice.begin_in_pause`, write it up to its first speakable piece and synthesise
        that, storing nothing. Cancelled if speech resumes; None when
        there is nothing to begin (no words, the model busy, a refusal the turn will
        report)."""
        text = (await asyncio.shield(transcript)).text
        if not text:
            return None
        if not self.services.settings.voice.begin_in_pause:
            try:  # only the prompt: the reply then starts after one token
                await self.services.chat.prepare(self.user, self.conversation_id, text)
            except HearthError:
                pass  # the turn itself will report it
            return None
        splitter = SentenceSplitter(**FIRST_PIECE)
        reply, pieces = "", []
        try:
            drafted = self.services.chat.draft(self.user, self.conversation_id, text)
            async with aclosing(drafted):
                async for delta in drafted:
                    reply += delta
                    if pieces := splitter.feed(delta):
                        break
        except HearthError:
            return None
        pieces = pieces or splitter.flush()  # the whole reply was shorter than a piece
        if not pieces:
            return None
        synth = time.perf_counter()
        pcm = await asyncio.to_thread(self._synthesize, pieces[0])
        if pcm is None:
            return None
        return _Ahead(text, reply, pieces[0], pcm, (time.perf_counter() - synth) * 1000,
                      time.time())

    async def _taken_ahead(self, ahead: asyncio.Task[_Ahead | None] | None,
                           text: str) -> _Ahead | None:
        """The reply begun in the pause, once done, if it answers `text`. It runs on
        the model the turn needs: waiting for it loses nothing, since the turn would
        write the same first piece."""
        if ahead is None:
            return None
        try:
            await asyncio.wait([ahead])
        except asyncio.CancelledError:
            ahead.cancel()
            raise
        if ahead.cancelled():
            return None
        if ahead.exception() is not None:
            log.error("beginning the reply in the pause failed", exc_info=ahead.exception())
            return None
        begun = ahead.result()
        return begun if begun is not None and begun.transcript == text else None

    def _stop_warming(self) -> None:
        for task in (self._ahead, self._deciding):
            if task is not None:
                task.cancel()
        self._ahead = self._deciding = None

    async def _transcribe(self, audio: np.ndarray) -> _Heard:
        started = time.perf_counter()
        transcriber = self.services.transcriber()
        # The person's profile language picks the model ('' leaves it to voice.language).
        result = await asyncio.to_thread(transcriber.transcribe, audio,
                                         language=self.user.language or None)
        return _Heard(result.text.strip(), (time.perf_counter() - started) * 1000,
                      result.last_p)

    @staticmethod
    async def _transcript_of(text: str) -> _Heard:
        return _Heard(text.strip(), 0.0)

    # -- turns -----------------------------------------------------------------------

    def _start_turn(self, transcript: Awaitable[_Heard], speech_end: float,
                    timings: Timings, ahead: asyncio.Task[_Ahead | None] | None = None,
                    release: Callable[[], None] | None = None) -> None:
        turn = self._new_turn(timings)
        turn.task = asyncio.create_task(self._guarded(
            turn, functools.partial(self._run, turn, transcript, speech_end, ahead)))
        if release is not None:  # however the task ends, even cancelled before it began
            turn.task.add_done_callback(lambda _: release())

    def _new_turn(self, timings: Timings) -> _Turn:
        self._turns += 1
        self.turn = _Turn(self._turns, timings=timings)
        return self.turn

    async def _run(self, turn: _Turn, transcript: Awaitable[_Heard],
                   speech_end: float, ahead: asyncio.Task[_Ahead | None] | None) -> None:
        waited = time.perf_counter()
        try:
            heard = await transcript
        except BaseException:
            if ahead is not None:
                ahead.cancel()
            raise
        text = heard.text
        turn.timings = replace(turn.timings, stt_ms=heard.stt_ms,
                               stt_wait_ms=(time.perf_counter() - waited) * 1000)
        await self.output.event(Transcript(turn.id, text))
        begun = await self._taken_ahead(ahead, text)
        if text:
            await self._converse(turn, text, speech_end, begun)

    async def _guarded(self, turn: _Turn, work: Callable[[], Awaitable[None]]) -> None:
        """Run a turn's work: a failure becomes the turn's `error` event, never silence."""
        emit = self.output.event
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except HearthError as e:
            await emit(Error(e.code, e.message, turn=turn.id))
        except Exception:
            log.exception("voice turn %s failed", turn.id)
            await emit(Error("internal", "the turn failed on the server; see its log",
                             turn=turn.id))
        finally:
            turn.finished = True

    async def _converse(self, turn: _Turn, text: str, speech_end: float,
                        begun: _Ahead | None = None) -> None:
        emit = self.output.event
        started = time.perf_counter()

        def since() -> float:
            return (time.perf_counter() - started) * 1000

        sentences: asyncio.Queue[str | _Ahead | None] = asyncio.Queue()
        heard_first = asyncio.Event()
        speaking = asyncio.create_task(
            self._speak(turn, sentences, since, speech_end, heard_first))
        splitter = SentenceSplitter(**FIRST_PIECE)
        # Begun in the pause: its first piece plays as soon as the turn has started (a
        # client learns the audio's rate there); the splitter, fed the same text, cuts
        # that piece again, and it is skipped.
        said_ahead = begun is not None

        def queue(sentence: str | _Ahead) -> None:
            nonlocal said_ahead
            if said_ahead and isinstance(sentence, str):
                said_ahead = False
                return
            if turn.timings.first_sentence_ms is None:
                turn.timings = replace(turn.timings, first_sentence_ms=since())
            sentences.put_nowait(sentence)

        try:
            replies = self.services.chat.send(self.user, self.conversation_id, text,
                                              reply_start=begun.reply if begun else "")
            async with aclosing(replies):
                async for event in replies:
                    if isinstance(event, chat.TurnStarted):
                        assert event.user_message is not None
                        turn.user_message_id = event.user_message.id
                        await emit(TurnStarted(turn.id, event.user_message.id, self.rate))
                        if begun is not None:
                            turn.timings = replace(
                                turn.timings, ahead_ms=(begun.ready - speech_end) * 1000)
                            queue(begun)
                    elif isinstance(event, chat.ReplyDelta):
                        if turn.timings.ttft_ms is None:
                            turn.timings = replace(turn.timings, ttft_ms=since())
                        await emit(ReplyDelta(turn.id, event.text))
                        for sentence in splitter.feed(event.text):
                            queue(sentence)
                        if not sentences.empty() and not heard_first.is_set():
                            # Two cores can't generate and synthesise at full speed at
                            # once: the first audio goes first, generation waits for it.
                            await heard_first.wait()
                    elif isinstance(event, chat.TurnFinished):
                        turn.reply_id = event.message.id
                        turn.timings = replace(
                            turn.timings, prompt_tokens=event.usage.prompt_tokens,
                            prompt_tokens_reused=event.usage.prompt_tokens_reused)
            for sentence in splitter.flush():
                queue(sentence)
            sentences.put_nowait(None)
            await speaking
        finally:
            speaking.cancel()
        await emit(TurnFinished(turn.id, turn.reply_id, turn.timings))

    def _synthesize(self, text: str) -> np.ndarray | None:
        """`text` in the character's voice (blocking: run it in a thread); None if silent."""
        voice = self.voice
        chunks = list(self.services.speaker().synthesize(
            text, voice=voice.name, speaker=voice.speaker, speed=voice.speed))
        return np.concatenate(chunks) if chunks else None

    async def _speak(self, turn: _Turn, sentences: asyncio.Queue[str | _Ahead | None],
                     since: Callable[[], float], speech_end: float,
                     heard_first: asyncio.Event) -> None:
        try:
            while (item := await sentences.get()) is not None:
                if isinstance(item, _Ahead):  # synthesised already, in the pause
                    sentence, pcm, tts_ms = item.sentence, item.pcm, item.tts_ms
                else:
                    synth = time.perf_counter()
                    sentence, pcm = item, await asyncio.to_thread(self._synthesize, item)
                    tts_ms = (time.perf_counter() - synth) * 1000
                if pcm is not None:
                    if turn.timings.first_audio_ms is None:
                        turn.timings = replace(
                            turn.timings, tts_first_ms=tts_ms, first_audio_ms=since(),
                            voice_to_voice_ms=(time.time() - speech_end) * 1000)
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
        at = max(self._input_now(), self._play_end)
        heard = np.interp(np.arange(0, len(pcm), self.rate / RATE), np.arange(len(pcm)),
                          pcm.astype(np.float32) / 32768)
        self._play_end = self.echo.play(heard.astype(np.float32), at)

    def _input_now(self) -> int:
        """Where the microphone is now on the input timeline. A busy server can read
        input late, then a backlog in a burst, while the client goes on recording and
        playing: counting only what was read would place our audio early for the echo
        guard, by as long as the delay (seconds, in tests). A client that stopped
        streaming (push-to-talk) is not extrapolated past a few seconds."""
        late = min(time.monotonic() - self._fed_at, 5.0)
        return self.samples + int(late * RATE)

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
        self._play_end = self._input_now()
        kept = turn.reply_id  # a message the character started stays whole: it was sent
        if turn.user_message_id is not None:
            reply = self.services.chat.cut_reply(self.user, turn.user_message_id, heard)
            kept = reply.id if reply else None
        await self.output.event(Interrupted(turn.id, heard, kept))

    async def drain(self) -> None:
        """Wait for the current turn to finish generating and synthesising."""
        if self.turn is not None and self.turn.task is not None:
            await asyncio.wait([self.turn.task])

    async def close(self) -> None:
        """The client went away: stop what is running (what was heard stays stored).
        Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._following
        self._stop_listening()
        self._stop_warming()
        await self.interrupt()
        if self._held is not None:  # they were speaking when the call ended
            self._held()
            self._held = None

    # -- what the character starts -------------------------------------------------------

    async def _follow_feed(self) -> None:
        """Speak each message the character starts in this conversation, when idle."""
        async with self.services.feed.subscribe(self.user.id) as stored:
            async for message in stored:
                if (message.conversation_id != self.conversation_id
                        or not started_by_character(message)):
                    continue
                await self._until_idle()
                turn = self._new_turn(Timings())
                turn.reply_id = message.id
                turn.task = asyncio.create_task(
                    self._guarded(turn, functools.partial(self._announce, turn, message)))
        if stored.overflowed:
            log.warning("voice call %s fell behind its messages; it no longer speaks the "
                        "ones the character starts", self.conversation_id)

    async def _until_idle(self) -> None:
        """Return once the person is not speaking, and no reply is made or heard."""
        while True:
            turn = self.turn
            if not self._quiet.is_set():
                await self._quiet.wait()
            elif turn is not None and turn.task is not None and not turn.task.done():
                await asyncio.wait([turn.task])
            elif turn is not None and (left := turn.audible_until() - time.time()) > 0:
                await asyncio.sleep(left)
            else:
                return

    async def _announce(self, turn: _Turn, message: Message) -> None:
        """Say a stored message as a turn: its text, then its audio, as a reply goes."""
        emit = self.output.event
        started = time.perf_counter()
        await emit(TurnStarted(turn.id, None, self.rate))
        await emit(ReplyDelta(turn.id, message.content))
        sentences: asyncio.Queue[str | _Ahead | None] = asyncio.Queue()
        splitter = SentenceSplitter()
        for sentence in [*splitter.feed(message.content), *splitter.flush(), None]:
            sentences.put_nowait(sentence)
        await self._speak(turn, sentences, lambda: (time.perf_counter() - started) * 1000,
                          time.time(), asyncio.Event())
        # Nobody spoke before it: there is no voice-to-voice time.
        turn.timings = replace(turn.timings, voice_to_voice_ms=None)
        await emit(TurnFinished(turn.id, message.id, turn.timings))
