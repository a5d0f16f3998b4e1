"""Speech to text and text to speech over the Wyoming protocol, for Home Assistant;
nothing else imports the `wyoming` package.

Home Assistant (Add integration → Wyoming Protocol, with host and port) asks what is
offered (`describe` → `info`: the Whisper model and its languages, every installed
voice), then opens a connection per request:

    transcribe, audio-start, audio-chunk…, audio-stop
        → transcript-start, transcript-chunk…, transcript, transcript-stop
    synthesize
        → audio-start, audio-chunk…, audio-stop
    synthesize-start, synthesize-chunk…, synthesize, synthesize-stop   (text as it streams)
        → audio-start, audio-chunk…, audio-stop, synthesize-stopped

Streamed text (an assistant's reply while it is written) is spoken a sentence at a
time, each as soon as it is complete; the whole-text `synthesize` that streaming
clients also send, for older servers, is ignored. Incoming audio is converted to the
speech models' 16 kHz mono as it arrives. Whisper reads a whole utterance, so the
transcript chunks (one per segment) all come once it is decoded.

A mistake (an unknown voice, too much text or audio, an audio format that cannot be
read) is answered with an `error` event, and the connection stays usable. The
protocol has no authentication: serve it on the LAN only.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from hearth import __version__
from hearth.accounts import is_loopback
from hearth.engines import stt
from hearth.engines.codec import PcmConverter
from hearth.engines.voices import Voices
from hearth.errors import HearthError, InvalidInput, NotFound, TooLarge
from hearth.services import Services
from hearth.voice.speakable import NOTHING_TO_SAY, SentenceSplitter, speakable_pieces

try:
    with warnings.catch_warnings():  # wyoming.audio imports audioop, deprecated in 3.11
        warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
        from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
    from wyoming.error import Error
    from wyoming.event import Event
    from wyoming.info import (
        AsrModel,
        AsrProgram,
        Attribution,
        Describe,
        Info,
        TtsProgram,
        TtsVoice,
        TtsVoiceSpeaker,
    )
    from wyoming.server import AsyncEventHandler, AsyncTcpServer
    from wyoming.tts import (
        Synthesize,
        SynthesizeChunk,
        SynthesizeStart,
        SynthesizeStop,
        SynthesizeStopped,
        SynthesizeVoice,
    )
except ImportError as e:  # pragma: no cover - install problem
    raise RuntimeError("the Wyoming server needs the wyoming package: `pip install wyoming`") from e

log = logging.getLogger(__name__)

SAMPLES_PER_CHUNK = 1024  # audio sent per event (~46 ms at 22 kHz), as Piper's own server does
WHISPER = Attribution(name="OpenAI Whisper on faster-whisper",
                      url="https://github.com/SYSTRAN/faster-whisper")
PIPER = Attribution(name="Piper", url="https://github.com/OHF-Voice/piper1-gpl")


class WyomingServer:
    """The Wyoming TCP server of a running Hearth: its handlers share `services`' models."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        self.services = services
        self.host, self.port = host, port
        self._server = AsyncTcpServer(host, port)
        self._warming: asyncio.Future[None] | None = None

    async def start(self) -> None:
        await self._server.start(partial(_Handler, self.services))
        log.info("Wyoming server (speech for Home Assistant) on %s:%d", self.host, self.port)
        if not is_loopback(self.host):
            log.warning("Wyoming has no authentication: anyone who can reach %s:%d can use "
                        "the speech models; keep that port on the LAN", self.host, self.port)
        # Home Assistant gives `describe` a second, which reads the Whisper model's
        # languages: load the models now rather than on that first request.
        self._warming = asyncio.ensure_future(asyncio.to_thread(self._warm_up))

    async def stop(self) -> None:
        await self._server.stop()
        if self._warming is not None:
            await self._warming  # a thread cannot be cancelled; loading ends within seconds

    def _warm_up(self) -> None:
        try:
            self.services.transcriber()
            default = self.services.choices.default_voice
            self.services.speaker().synthesize("", voice=default)  # loads the voice
        except Exception as e:  # each request will say what is wrong
            log.warning("Wyoming: a speech model could not be loaded (%s)", e)


@dataclass
class _Recording:
    """One utterance as it arrives, already in the speech models' form."""

    converter: PcmConverter | None = None  # None: refused (an error was sent), the rest dropped
    audio: list[np.ndarray] = field(default_factory=list)


@dataclass
class _Speech:
    """Audio going out in one voice: started with audio-start once, timestamped as it goes."""

    voice: str
    speaker: str | None
    rate: int
    started: bool = False
    samples: int = 0

    @property
    def ms(self) -> int:
        return self.samples * 1000 // self.rate


@dataclass
class _TextStream:
    """Text arriving between synthesize-start and synthesize-stop."""

    speech: _Speech | None = None  # None until its voice is known to be good
    splitter: SentenceSplitter = field(default_factory=SentenceSplitter)
    chars: int = 0
    refused: bool = False  # an error was sent; the rest of the text is dropped


class _Handler(AsyncEventHandler):
    """One client connection: its requests are answered in the order they come."""

    def __init__(self, services: Services, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.services = services
        self.limits = services.settings.limits
        self._transcribe = Transcribe()  # what the next audio is for
        self._recording: _Recording | None = None
        self._text: _TextStream | None = None

    async def handle_event(self, event: Event) -> bool:
        try:
            async with self._errors_as_events(event.type):
                await self._dispatch(event)
        except ConnectionError:  # the client left while we answered
            return False
        return True

    @asynccontextmanager
    async def _errors_as_events(self, doing: str) -> AsyncIterator[None]:
        """A mistake or failure inside becomes an error event to the client."""
        try:
            yield
        except ConnectionError:
            raise
        except HearthError as e:
            await self.write_event(Error(text=e.message, code=e.code).event())
        except Exception:
            log.exception("Wyoming %s failed", doing)
            await self.write_event(Error(text="something went wrong on the server; see its log",
                                         code="internal_error").event())

    async def _dispatch(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self.write_event((await asyncio.to_thread(self._info)).event())
        elif Transcribe.is_type(event.type):
            self._transcribe = Transcribe.from_event(event)
        elif AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self._record(start.rate, start.width, start.channels)
        elif AudioChunk.is_type(event.type):
            self._hear(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            await self._transcript()
        elif Synthesize.is_type(event.type):
            if self._text is None:  # in a stream it only repeats the streamed text
                await self._synthesize(Synthesize.from_event(event))
        elif SynthesizeStart.is_type(event.type):
            self._text = _TextStream()
            voice = SynthesizeStart.from_event(event).voice
            self._text.speech = await asyncio.to_thread(self._speech, voice)
        elif SynthesizeChunk.is_type(event.type):
            await self._stream_text(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type):
            await self._end_text()
        else:
            log.debug("Wyoming event %s ignored", event.type)

    # --- describe ---------------------------------------------------------------------

    def _info(self) -> Info:
        """What this server offers, read afresh each time (voices may have been added)."""
        transcriber = self.services.transcriber()
        default = self.services.choices.default_voice
        voices = sorted(self.services.speaker().voices(), key=lambda v: v.name != default)
        return Info(
            asr=[AsrProgram(
                name="hearth-whisper", description="Hearth speech to text (Whisper)",
                attribution=WHISPER, installed=True, version=__version__,
                models=[AsrModel(
                    name=name, description=f"Whisper {name}",
                    attribution=WHISPER, installed=True, version=None, languages=languages,
                ) for name, languages in transcriber.offered()],
                supports_transcript_streaming=True,
            )],
            tts=[TtsProgram(
                name="hearth-piper", description="Hearth text to speech (Piper)",
                attribution=PIPER, installed=True, version=__version__,
                voices=[TtsVoice(
                    name=v.name,
                    description=f"{v.name} (default)" if v.name == default else v.name,
                    attribution=PIPER, installed=True, version=None,
                    languages=[v.language] if v.language else [],
                    speakers=[TtsVoiceSpeaker(name=s) for s in v.speakers] or None,
                ) for v in voices],
                supports_synthesize_streaming=True,
            )],
        )

    # --- speech to text ---------------------------------------------------------------

    def _record(self, rate: int, width: int, channels: int) -> _Recording:
        self._recording = recording = _Recording()  # refused unless its format can be read
        recording.converter = PcmConverter(rate, width, channels,
                                           max_seconds=self.limits.max_audio_seconds)
        return recording

    def _hear(self, chunk: AudioChunk) -> None:
        recording = self._recording
        if recording is None:  # audio without audio-start: its chunks say the format
            recording = self._record(chunk.rate, chunk.width, chunk.channels)
        converter = recording.converter
        if converter is None:
            return
        try:
            if (chunk.rate, chunk.width, chunk.channels) != (
                converter.in_rate, converter.width, converter.channels
            ):
                raise InvalidInput(
                    f"an audio-chunk is {chunk.rate} Hz, {chunk.width} bytes a sample, "
                    f"{chunk.channels} channel(s), unlike its audio-start ({converter.in_rate} "
                    f"Hz, {converter.width} bytes, {converter.channels}); keep one format a stream"
                )
            recording.audio.append(converter.push(chunk.audio))
        except HearthError:
            recording.converter = None
            raise

    async def _transcript(self) -> None:
        recording, self._recording = self._recording, None
        request, self._transcribe = self._transcribe, Transcribe()
        audio = [np.zeros(0, np.float32)]  # audio-stop without audio: an empty transcript
        if recording is not None:
            if recording.converter is None:
                return  # the error was sent when the audio was refused
            audio += [*recording.audio, recording.converter.flush()]
        language = _language_code(request.language)

        def transcribe() -> stt.Transcript:  # in a worker thread: the model may still have to load
            return self.services.transcriber().transcribe(np.concatenate(audio), language=language)

        transcript = await asyncio.to_thread(transcribe)
        await self.write_event(TranscriptStart(language=transcript.language).event())
        texts = [s.text for s in transcript.segments if s.text]
        for i, text in enumerate(texts):  # chunks join into the transcript's text
            await self.write_event(TranscriptChunk(text=f" {text}" if i else text).event())
        await self.write_event(
            Transcript(text=transcript.text, language=transcript.language).event())
        await self.write_event(TranscriptStop().event())

    # --- text to speech ---------------------------------------------------------------

    def _speech(self, requested: SynthesizeVoice | None) -> _Speech:
        """The installed voice a request asks for by name or language; the default if neither.
        Blocks: the voice's model loads on first use."""
        synthesizer = self.services.speaker()
        name = self.services.choices.default_voice
        speaker = None
        if requested is not None and requested.name:
            name, speaker = requested.name, requested.speaker
        elif requested is not None and requested.language:
            name = _voice_for_language(synthesizer, requested.language, name)
        # Loads the voice and checks the speaker now, before any audio goes out (NotFound
        # lists the installed voices); the text comes later, piece by piece.
        synthesizer.synthesize("", voice=name, speaker=speaker)
        return _Speech(voice=name, speaker=speaker, rate=synthesizer.sample_rate(name))

    async def _synthesize(self, request: Synthesize) -> None:
        pieces = speakable_pieces(request.text, max_chars=self.limits.max_speech_chars)
        speech = await asyncio.to_thread(self._speech, request.voice)
        for piece in pieces:
            await self._say(speech, piece)
        await self.write_event(AudioStop(timestamp=speech.ms).event())

    async def _stream_text(self, text: str) -> None:
        stream = self._text
        if stream is None:
            raise InvalidInput("a synthesize-chunk came without synthesize-start; "
                               "send synthesize-start first")
        speech = stream.speech
        if speech is None or stream.refused:
            return  # the error was sent
        stream.chars += len(text)
        if stream.chars > self.limits.max_speech_chars:
            stream.refused = True
            for piece in stream.splitter.flush():  # what came before the limit is said
                await self._say(speech, piece)
            raise TooLarge(
                f"the streamed text passed the limit of {self.limits.max_speech_chars} "
                "characters (limits.max_speech_chars); the rest of it is not spoken"
            )
        for piece in stream.splitter.feed(text):
            await self._say(speech, piece)

    async def _end_text(self) -> None:
        stream, self._text = self._text, None
        if stream is None:
            raise InvalidInput("a synthesize-stop came without synthesize-start; "
                               "send synthesize-start, the text, then synthesize-stop")
        speech = stream.speech
        if speech is not None:
            if not stream.refused:
                # Errors go out before synthesize-stopped, which ends the client's reading.
                async with self._errors_as_events("synthesize-stop"):
                    for piece in stream.splitter.flush():
                        await self._say(speech, piece)
                    if not speech.started:
                        raise InvalidInput(NOTHING_TO_SAY)
            if speech.started:
                await self.write_event(AudioStop(timestamp=speech.ms).event())
        await self.write_event(SynthesizeStopped().event())

    async def _say(self, speech: _Speech, text: str) -> None:
        """Speak one piece, a chunk at a time: Piper runs in a worker thread, sentence by
        sentence, so the loop stays free and the first audio leaves early."""
        chunks = await asyncio.to_thread(
            lambda: self.services.speaker().synthesize(text, voice=speech.voice,
                                                       speaker=speech.speaker))
        if not speech.started:
            await self.write_event(
                AudioStart(rate=speech.rate, width=2, channels=1, timestamp=0).event())
            speech.started = True
        while (pcm := await asyncio.to_thread(next, chunks, None)) is not None:
            for part in _split(pcm):
                await self.write_event(AudioChunk(
                    rate=speech.rate, width=2, channels=1, timestamp=speech.ms,
                    audio=part.astype("<i2", copy=False).tobytes(),
                ).event())
                speech.samples += len(part)


def _split(pcm: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(pcm), SAMPLES_PER_CHUNK):
        yield pcm[start:start + SAMPLES_PER_CHUNK]


def _language_code(language: str | None) -> str | None:
    """Whisper's code for a language as Home Assistant names it ('en-US' → 'en')."""
    if not language:
        return None
    return language.replace("_", "-").split("-")[0].lower()


def _voice_for_language(synthesizer: Voices, language: str, default: str) -> str:
    """An installed voice speaking `language` ('en_US', 'en-US' or just 'en'): the default
    voice if it does, else the best other (a Piper voice before eSpeak NG's)."""
    matching = synthesizer.speaking(language)
    if not matching:
        voices = synthesizer.voices()
        spoken = ", ".join(sorted({v.language for v in voices if v.language})) or "none"
        raise NotFound(f"no installed voice speaks {language!r}; the voices speak: {spoken}. "
                       "Ask for a voice by name, or put a Piper voice for it in voice.voices_dir")
    return default if default in matching else matching[0]
