"""The Wyoming server (Home Assistant's speech protocol), started by the app's lifespan as
`hearth serve` does, driven by the `wyoming` package's own client over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from hearth.api.app import create_app
from hearth.config import DEFAULT_VOICE, WyomingSettings
from hearth.engines import espeak
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.engines.stt import Transcriber
from hearth.services import Services
from tests.conftest import make_settings
from tests.utils.live import ProcessServer, ThreadServer, free_port
from tests.utils.speech import RATE, Speech, SpeechMaker, pcm16, resample, word_error_rate

PHRASE = "Please turn on the kitchen lights."
VOICE_RATE = 22_050  # the default voice's
TIMEOUT = 120


@dataclass
class Wyoming:
    """A live Wyoming server and the Services behind it."""

    port: int
    services: Services


def exchange(port: int, *events: Event, until: type) -> list[Event]:
    """Send `events` on a new connection, then read the replies up to the first of type
    `until`, that one included."""
    async def run() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=TIMEOUT) as client:
            for event in events:
                await client.write_event(event)
            return await read_until(client, until)

    return asyncio.run(run())


async def read_until(client: AsyncTcpClient, until: type) -> list[Event]:
    replies: list[Event] = []
    while True:
        event = await client.read_event()
        assert event is not None, f"connection closed after {[e.type for e in replies]}"
        replies.append(event)
        if until.is_type(event.type):  # type: ignore[attr-defined]
            return replies


@pytest.fixture(scope="module")
def wyoming(
    llama: LlamaModel, embedder: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Wyoming]:
    """The app with `wyoming.enabled`, served as `hearth serve` serves it: the lifespan
    starts the Wyoming server beside HTTP, on the same Services."""
    settings = make_settings(tmp_path_factory.mktemp("wyoming-data"), memory={"enabled": False})
    port = free_port()
    settings = settings.model_copy(update={"wyoming": WyomingSettings(enabled=True, port=port)})
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    with ThreadServer(create_app(settings, services)):
        yield Wyoming(port, services)
    services.close()


def audio_events(audio: np.ndarray, rate: int = RATE, channels: int = 1,
                 chunk_bytes: int = 2048) -> list[Event]:
    """What Home Assistant sends: audio-start, 16-bit PCM in chunks, audio-stop."""
    pcm = pcm16(audio)
    if channels == 2:
        pcm = np.stack([pcm, pcm], axis=1).reshape(-1)
    data = pcm.tobytes()
    return [
        AudioStart(rate=rate, width=2, channels=channels).event(),
        *(AudioChunk(rate=rate, width=2, channels=channels, audio=data[i:i + chunk_bytes]).event()
          for i in range(0, len(data), chunk_bytes)),
        AudioStop().event(),
    ]


def heard(replies: list[Event]) -> tuple[AudioStart, np.ndarray]:
    """The audio-start of a synthesis reply and its samples (int16)."""
    starts = [AudioStart.from_event(e) for e in replies if AudioStart.is_type(e.type)]
    chunks = [AudioChunk.from_event(e) for e in replies if AudioChunk.is_type(e.type)]
    assert len(starts) == 1 and chunks, [e.type for e in replies]
    start = starts[0]
    assert all((c.rate, c.width, c.channels) == (start.rate, start.width, start.channels)
               for c in chunks)
    return start, np.frombuffer(b"".join(c.audio for c in chunks), np.int16)


def transcribed(wyoming: Wyoming, pcm: np.ndarray, rate: int = VOICE_RATE) -> str:
    """What the Wyoming server hears in int16 audio at `rate`."""
    replies = exchange(wyoming.port, *audio_events(pcm.astype(np.float32) / 32768, rate=rate),
                       until=Transcript)
    return Transcript.from_event(replies[-1]).text


def error_of(replies: list[Event]) -> Error:
    errors = [Error.from_event(e) for e in replies if Error.is_type(e.type)]
    assert len(errors) == 1, [e.type for e in replies]
    return errors[0]


@pytest.fixture(scope="module")
def spoken(speech: SpeechMaker) -> Speech:
    return speech(PHRASE)


def test_describe_offers_the_whisper_model_and_every_voice(wyoming: Wyoming) -> None:
    (reply,) = exchange(wyoming.port, Describe().event(), until=Info)
    info = Info.from_event(reply)
    (asr,) = info.asr
    assert asr.installed and asr.supports_transcript_streaming
    model, multilingual = asr.models
    assert model.name == "whisper-tiny.en" and model.languages == ["en"] and model.installed
    assert multilingual.name == "whisper-base" and "ko" in multilingual.languages
    (tts,) = info.tts
    assert tts.installed and tts.supports_synthesize_streaming
    installed = wyoming.services.speaker().voices()
    assert {v.name for v in tts.voices} == {v.name for v in installed} and installed
    first = tts.voices[0]  # the default voice leads, for clients that take the first
    assert first.name == DEFAULT_VOICE and first.languages == ["en_US"] and first.installed
    assert first.speakers is None  # a single-speaker voice


def test_transcribes_what_home_assistant_sends(wyoming: Wyoming, spoken: Speech) -> None:
    replies = exchange(wyoming.port, Transcribe(language="en").event(),
                       *audio_events(spoken.audio), until=TranscriptStop)
    types = [e.type for e in replies]
    assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"]
    transcript = Transcript.from_event(replies[-2])
    assert word_error_rate(PHRASE, transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en"
    assert TranscriptStart.from_event(replies[0]).language == "en"
    chunks = [TranscriptChunk.from_event(e).text for e in replies
              if TranscriptChunk.is_type(e.type)]
    assert chunks and "".join(chunks) == transcript.text


def test_other_rates_and_stereo_are_converted(wyoming: Wyoming, spoken: Speech) -> None:
    """A 44.1 kHz stereo stream in chunks that end mid-sample (not what Home Assistant
    sends, but valid Wyoming), and a region tag for the language ('en-US')."""
    audio_44k = resample_to(pcm16(spoken.audio), 44_100)
    events = audio_events(audio_44k, rate=44_100, channels=2, chunk_bytes=1001)
    replies = exchange(wyoming.port, Transcribe(language="en-US").event(), *events,
                       until=Transcript)
    text = Transcript.from_event(replies[-1]).text
    assert word_error_rate(PHRASE, text) <= 0.2, text


def test_audio_stop_without_audio_gives_an_empty_transcript(wyoming: Wyoming) -> None:
    replies = exchange(wyoming.port, Transcribe().event(), AudioStop().event(), until=Transcript)
    assert Transcript.from_event(replies[-1]).text == ""


def test_synthesizes_at_the_voice_rate_and_transcribes_back(
    wyoming: Wyoming, transcriber: Transcriber
) -> None:
    # Piper's timing is random, so each run hears a different take: tiny.en's WER on this
    # text was at most 0.08 in 40 takes ("The weather is sunny today. Enjoy your walk!"
    # reached 0.375, running on past the speech: "... Enjoy your walk. Enjoy your").
    text = "Please turn on the kitchen lights. I will see you tomorrow morning."
    replies = exchange(wyoming.port, Synthesize(text=text).event(), until=AudioStop)
    start, pcm = heard(replies)
    assert (start.rate, start.width, start.channels) == (VOICE_RATE, 2, 1)
    seconds = len(pcm) / VOICE_RATE
    assert 1.5 < seconds < 8.0, seconds
    assert np.abs(pcm).max() > 3000  # speech, not silence
    assert AudioStop.from_event(replies[-1]).timestamp == pytest.approx(seconds * 1000, abs=2)
    back = transcriber.transcribe(resample(pcm, VOICE_RATE)).text
    assert word_error_rate(text, back) <= 0.25, back

    # The round trip through the Wyoming server itself: its audio, transcribed by it.
    again = transcribed(wyoming, pcm)
    assert word_error_rate(text, again) <= 0.25, again


def test_streamed_text_is_spoken_sentence_by_sentence(wyoming: Wyoming) -> None:
    """As Home Assistant streams an assistant's reply: start, text deltas, the whole text
    again (for older servers, to be ignored), stop."""
    deltas = ["Good morning! The ", "kitchen lights are ", "*smiles* on now. See", " you soon."]
    said = "Good morning! The kitchen lights are on now. See you soon."
    voice = SynthesizeVoice(name=DEFAULT_VOICE)
    replies = exchange(
        wyoming.port,
        SynthesizeStart(voice=voice).event(),
        *(SynthesizeChunk(text=d).event() for d in deltas),
        Synthesize(text="".join(deltas), voice=voice).event(),
        SynthesizeStop().event(),
        until=SynthesizeStopped,
    )
    types = [e.type for e in replies]
    assert types[0] == "audio-start" and types[-2:] == ["audio-stop", "synthesize-stopped"]
    assert "error" not in types
    _, pcm = heard(replies)
    # Said once, not twice: as long as the same words asked for at once.
    _, whole = heard(exchange(wyoming.port, Synthesize(text=said).event(), until=AudioStop))
    assert 0.8 < len(pcm) / len(whole) < 1.25, (len(pcm), len(whole))
    back = transcribed(wyoming, pcm)
    assert word_error_rate(said, back) <= 0.3, back  # measured: at most 0.18 in 60 takes


def test_a_voice_can_be_chosen_by_language(wyoming: Wyoming) -> None:
    english = SynthesizeVoice(language="en-US")
    replies = exchange(wyoming.port, Synthesize(text="Hello.", voice=english).event(),
                       until=AudioStop)
    assert heard(replies)[0].rate == VOICE_RATE
    korean = SynthesizeVoice(language="ko_KR")  # no Piper voice: eSpeak NG's
    replies = exchange(wyoming.port, Synthesize(text="안녕하세요.", voice=korean).event(),
                       until=AudioStop)
    assert heard(replies)[0].rate == espeak.RATE
    klingon = SynthesizeVoice(language="tlh")
    replies = exchange(wyoming.port, Synthesize(text="Qapla'.", voice=klingon).event(),
                       until=Error)
    assert "no installed voice speaks 'tlh'" in error_of(replies).text


def test_mistakes_get_an_error_event_and_the_connection_stays_usable(wyoming: Wyoming) -> None:
    limit = wyoming.services.settings.limits.max_speech_chars

    async def run() -> list[list[Event]]:
        answers = []
        async with AsyncTcpClient("127.0.0.1", wyoming.port, read_timeout=TIMEOUT) as client:
            mistakes: list[list[Event]] = [
                [Synthesize(text="Hi.", voice=SynthesizeVoice(name="no-such-voice")).event()],
                [Synthesize(text="Hi.", voice=SynthesizeVoice(name=DEFAULT_VOICE,
                                                              speaker="bob")).event()],
                [Synthesize(text="x" * (limit + 1)).event()],
                [Synthesize(text="*waves*").event()],
                [AudioStart(rate=16_000, width=3, channels=1).event(),
                 AudioChunk(rate=16_000, width=3, channels=1, audio=bytes(3000)).event(),
                 AudioStop().event()],
                [AudioStart(rate=16_000, width=2, channels=1).event(),
                 AudioChunk(rate=8_000, width=2, channels=1, audio=bytes(3200)).event(),
                 AudioChunk(rate=8_000, width=2, channels=1, audio=bytes(3200)).event(),
                 AudioStop().event()],
                [SynthesizeChunk(text="Hello").event()],
            ]
            for events in mistakes:
                for event in events:
                    await client.write_event(event)
                answers.append(await read_until(client, Error))
            # ...and the same connection still answers a good request.
            await client.write_event(Synthesize(text="All good.").event())
            answers.append(await read_until(client, AudioStop))
        return answers

    *errors, fine = asyncio.run(run())
    texts = [error_of(replies).text for replies in errors]
    assert "there is no voice 'no-such-voice'" in texts[0] and DEFAULT_VOICE in texts[0]
    assert "single speaker" in texts[1]
    assert "limits.max_speech_chars" in texts[2]
    assert "nothing to say aloud" in texts[3]
    assert "3 bytes a sample" in texts[4]
    assert "keep one format" in texts[5]
    assert "without synthesize-start" in texts[6]
    assert [e.type for e in errors[4]] == ["error"]  # one error, however many chunks follow
    assert heard(fine)[0].rate == VOICE_RATE


def test_too_much_audio_is_refused_early(wyoming: Wyoming, spoken: Speech) -> None:
    limit = wyoming.services.settings.limits.max_audio_seconds
    second = AudioChunk(rate=RATE, width=2, channels=1, audio=bytes(2 * RATE)).event()
    replies = exchange(wyoming.port, AudioStart(rate=RATE, width=2, channels=1).event(),
                       *[second] * (int(limit) + 2), AudioStop().event(), until=Error)
    assert "limits.max_audio_seconds" in error_of(replies).text
    # The next utterance on a new connection is heard as usual.
    replies = exchange(wyoming.port, *audio_events(spoken.audio), until=Transcript)
    assert word_error_rate(PHRASE, Transcript.from_event(replies[-1]).text) <= 0.2


def test_a_streamed_text_over_the_limit_is_cut_off_with_an_error(wyoming: Wyoming) -> None:
    limit = wyoming.services.settings.limits.max_speech_chars
    replies = exchange(
        wyoming.port,
        SynthesizeStart().event(),
        SynthesizeChunk(text="Hello there. ").event(),
        SynthesizeChunk(text="y" * limit).event(),
        SynthesizeChunk(text="More text. ").event(),
        SynthesizeStop().event(),
        until=SynthesizeStopped,
    )
    types = [e.type for e in replies]
    assert "limits.max_speech_chars" in error_of(replies).text
    # What came before the limit was spoken and its audio is closed.
    assert types[0] == "audio-start" and types[-2:] == ["audio-stop", "synthesize-stopped"]


def test_hearth_serve_starts_it_when_enabled(tmp_path: Path) -> None:
    """The real `hearth serve` process, configured through the environment."""
    port = free_port()
    env = {"HEARTH_WYOMING__ENABLED": "true", "HEARTH_WYOMING__PORT": str(port),
           "HEARTH_MEMORY__ENABLED": "false"}
    with ProcessServer(tmp_path / "data", env=env):
        (reply,) = exchange(port, Describe().event(), until=Info)
        info = Info.from_event(reply)
        assert info.asr[0].models[0].languages == ["en"]
        assert DEFAULT_VOICE in {v.name for v in info.tts[0].voices}


def resample_to(pcm: np.ndarray, rate: int) -> np.ndarray:
    """16 kHz int16 → float32 at `rate`, with FFmpeg's resampler."""
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
    frame.sample_rate = RATE
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    frames = resampler.resample(frame) + resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
