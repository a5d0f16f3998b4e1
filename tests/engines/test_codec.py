"""Audio files in and out with PyAV: every format a client sends decodes to 16 kHz mono,
every format a client asks for encodes (whole or streamed), and bad files get a 4xx."""

from __future__ import annotations

import io
import struct
import time

import av
import numpy as np
import pytest

from hearth.engines.codec import MEDIA_TYPES, StreamEncoder, decode, encode
from hearth.errors import InvalidInput, TooLarge
from tests.utils.speech import RATE, Speech, SpeechMaker, pcm16

PHRASE = "Please turn on the kitchen lights."
VOICE_RATE = 22_050


@pytest.fixture(scope="module")
def phrase(speech: SpeechMaker) -> Speech:
    return speech(PHRASE)


def with_pyav(audio: np.ndarray, container: str, codec: str, rate: int, layout: str) -> bytes:
    """A file made by FFmpeg directly (not by the code under test): e.g. a browser's webm."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as c:
        stream = c.add_stream(codec, rate=rate, layout=layout)
        channels = 2 if layout == "stereo" else 1
        pcm = np.ascontiguousarray(np.repeat(pcm16(audio)[None, :], channels, axis=0).T)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate, frame.pts = RATE, 0
        c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    return out.getvalue()


def assert_same_sound(decoded: np.ndarray, original: np.ndarray, *, tolerance: float) -> None:
    """Same length (codec padding aside) and the same loudness."""
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert abs(len(decoded) - len(original)) / RATE < tolerance
    rms = float(np.sqrt(np.mean(decoded**2)))
    expected = float(np.sqrt(np.mean(original**2)))
    assert rms == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus", "aac"])
@pytest.mark.parametrize("rate", [RATE, VOICE_RATE])
def test_encoded_audio_decodes_to_16k_mono(phrase: Speech, fmt: str, rate: int) -> None:
    original = phrase.audio
    source = original if rate == RATE else _resampled(original, rate)
    data = encode(pcm16(source), rate, fmt)
    # Without a seekable file, MP3 and AAC can't record their codec delay: ~0.1 s longer.
    assert_same_sound(decode(data, max_seconds=60), original, tolerance=0.15)


@pytest.mark.parametrize(
    ("container", "codec", "rate", "layout"),
    [("webm", "libopus", 48_000, "mono"), ("mp4", "aac", 44_100, "stereo"),
     ("wav", "pcm_s16le", 44_100, "stereo"), ("mp3", "libmp3lame", 44_100, "stereo")],
)
def test_files_from_other_encoders_decode(
    phrase: Speech, container: str, codec: str, rate: int, layout: str
) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec}")
    data = with_pyav(phrase.audio, container, codec, rate, layout)
    assert_same_sound(decode(data, max_seconds=60), phrase.audio, tolerance=0.15)


def test_wav_is_exact(phrase: Speech) -> None:
    pcm = pcm16(phrase.audio)
    data = encode(pcm, RATE, "wav")
    riff, riff_size, _, _, _, fmt_tag, channels, rate = struct.unpack("<4sI4s4sIHHI", data[:28])
    assert (riff, fmt_tag, channels, rate) == (b"RIFF", 1, 1, RATE)
    assert riff_size == len(data) - 8 and struct.unpack("<I", data[40:44])[0] == len(pcm) * 2
    assert np.array_equal(np.round(decode(data, max_seconds=60) * 32768).astype(np.int16), pcm)


def test_pcm_is_raw_s16le_and_resamples(phrase: Speech) -> None:
    pcm = pcm16(phrase.audio)
    assert encode(pcm, RATE, "pcm") == pcm.astype("<i2").tobytes()
    resampled = encode(pcm, RATE, "pcm", out_rate=24_000)
    assert abs(len(resampled) // 2 - len(pcm) * 1.5) < 100


@pytest.mark.parametrize("fmt", ["mp3", "opus", "pcm", "wav"])
def test_stream_encoder_yields_bytes_as_it_goes(phrase: Speech, fmt: str) -> None:
    pcm = pcm16(phrase.audio)
    encoder = StreamEncoder(fmt, RATE, out_rate=24_000)
    assert encoder.media_type == MEDIA_TYPES[fmt]
    parts = [encoder.feed(pcm[i : i + 1600]) for i in range(0, len(pcm), 1600)]  # 100 ms
    parts.append(encoder.close())
    assert sum(1 for p in parts[: len(parts) // 2] if p) >= len(parts) // 4  # not all at the end
    data = b"".join(parts)
    if fmt == "pcm":
        assert abs(len(data) // 2 - len(pcm) * 1.5) < 100
        return
    if fmt == "wav":  # streamed: the sizes are unknown, so they read 0xFFFFFFFF
        assert struct.unpack("<I", data[4:8])[0] == struct.unpack("<I", data[40:44])[0] == 2**32 - 1
    assert_same_sound(decode(data, max_seconds=60), phrase.audio, tolerance=0.15)


def test_opus_and_mp3_use_a_rate_their_codec_supports() -> None:
    assert StreamEncoder("opus", VOICE_RATE).out_rate == 24_000
    assert StreamEncoder("mp3", VOICE_RATE).out_rate == VOICE_RATE
    assert StreamEncoder("wav", VOICE_RATE).out_rate == VOICE_RATE


def test_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidInput, match="mp3"):
        encode(np.zeros(100, np.int16), RATE, "wma")


def test_a_file_cut_short_keeps_what_came_before(phrase: Speech) -> None:
    data = encode(pcm16(phrase.audio), RATE, "mp3")
    decoded = decode(data[: len(data) // 2], max_seconds=60)
    assert 0.3 * len(phrase.audio) < len(decoded) < 0.7 * len(phrase.audio)


BAD_FILES = {
    "empty": (b"", InvalidInput, "empty"),
    "random bytes": (np.random.default_rng(7).bytes(20_000), InvalidInput, "could not be read"),
    "text": (b"this is not audio, just a text file named .wav\n" * 40, InvalidInput,
             "could not be read"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(200), InvalidInput, "no audio stream"),
    "wav without samples": (encode(np.zeros(0, np.int16), RATE, "wav"), InvalidInput,
                            "no audio samples"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_are_refused_with_a_4xx(case: str) -> None:
    data, error, words = BAD_FILES[case]
    with pytest.raises(error, match=words) as caught:
        decode(data, max_seconds=60)
    assert 400 <= caught.value.status < 500


def test_audio_over_the_limit_is_refused_without_decoding_it_all() -> None:
    minutes = encode(np.zeros(120 * RATE, np.int16), RATE, "flac")  # silence packs small
    with pytest.raises(TooLarge, match="limits.max_audio_seconds") as caught:
        decode(minutes, max_seconds=2)
    assert caught.value.status == 413 and "2 seconds" in caught.value.message
    assert len(decode(encode(np.zeros(RATE, np.int16), RATE, "flac"), max_seconds=2)) == RATE


def wav_saying(*, rate: int = RATE, channels: int = 1, bits: int = 16, tag: int = 1,
               data: bytes = bytes(64), data_size: int | None = None) -> bytes:
    """A wav whose header says what it is told to, sizes of a stream (0xFFFFFFFF) included."""
    align = channels * bits // 8 & 0xFFFF
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16, tag, channels, rate,
        rate * max(1, align) & 0xFFFFFFFF, align, bits,
        b"data", len(data) if data_size is None else data_size,
    ) + data


def pyav_file_at(container: str, codec: str, rate: int) -> bytes:
    """A few stereo samples in another container whose header states the rate (aiff, caf)."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as c:
        stream = c.add_stream(codec, rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 40), np.int16), format="s16",
                                           layout="stereo")
        frame.sample_rate, frame.pts = rate, 0
        c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    return out.getvalue()


# The 63-byte wav of issue 14: RIFF size 0xFFFFFFFF, 2 channels, 214,040,035 Hz, 8-bit,
# 19 bytes of samples. FFmpeg's resampler sized its filters for that rate: 10 s of CPU.
ISSUE_14_WAV = wav_saying(rate=214_040_035, channels=2, bits=8, data=bytes(19))
# Refusing a header costs well under a millisecond; before the fix each of these took 10-13 s
# of CPU (the aiff and caf cases 4-13 s, by rate). A bound of 1 s of this thread's CPU time
# (not wall time, so other work on the machine does not count) is an order of magnitude
# under the failure and three over the cost.
REFUSE_CPU_SECONDS = 1.0
HEADER_LIES = {
    "the 63-byte wav of issue 14": (ISSUE_14_WAV, "214040035 Hz in 2 channel"),
    "0 Hz": (wav_saying(rate=0), "0 Hz"),
    "1 Hz": (wav_saying(rate=1, data=bytes(4096)), "1 Hz"),
    "4 GHz": (wav_saying(rate=0xFFFFFFFF), "4294967295 Hz"),
    "0 channels": (wav_saying(channels=0), "0 channel"),
    "65535 channels": (wav_saying(channels=65535, data=bytes(4096)), "65535 channel"),
    "9 channels": (wav_saying(channels=9, data=bytes(900)), "9 channel"),
    "0-bit samples": (wav_saying(bits=0), "0-bit"),
    "3-bit samples": (wav_saying(bits=3), "3-bit"),
    "65535-bit samples": (wav_saying(bits=65535), "65535-bit"),
    "float of 16 bits": (wav_saying(tag=3, bits=16), "16-bit"),
    "aiff at 214 MHz": (pyav_file_at("aiff", "pcm_s16be", 214_040_035), "214040035 Hz"),
    "caf at 214 MHz": (pyav_file_at("caf", "pcm_s16le", 214_040_035), "214040035 Hz"),
}


@pytest.mark.parametrize("case", HEADER_LIES)
def test_a_header_that_lies_is_refused_before_decoding(case: str) -> None:
    data, words = HEADER_LIES[case]
    started = time.thread_time()
    with pytest.raises(InvalidInput, match=words) as caught:
        decode(data, max_seconds=60)
    spent = time.thread_time() - started
    assert caught.value.status == 422
    assert "8000-192000 Hz with 1-8 channels" in caught.value.message or (
        "send 8, 16, 24 or 32-bit PCM" in caught.value.message
    )
    assert spent < REFUSE_CPU_SECONDS, f"{spent:.2f} s of CPU to refuse {len(data)} bytes"


def test_a_data_size_past_the_end_decodes_the_bytes_there() -> None:
    """Sizes are not trusted either way: a wav claiming 2 GB of samples holds 1 s of them
    (so does a streamed one, claiming 0xFFFFFFFF), and costs what that second costs."""
    pcm = (np.sin(np.arange(RATE) / 5) * 8000).astype("<i2")
    started = time.thread_time()
    audio = decode(wav_saying(data=pcm.tobytes(), data_size=0x7FFFFFFF), max_seconds=60)
    assert time.thread_time() - started < REFUSE_CPU_SECONDS
    assert len(audio) == RATE


@pytest.mark.parametrize(("rate", "channels"), [(8_000, 1), (44_100, 2), (192_000, 8)])
def test_the_rates_and_channels_recordings_have_still_decode(rate: int, channels: int) -> None:
    tone = (np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate) * 8000).astype("<i2")
    frames = np.repeat(tone[:, None], channels, axis=1)  # interleaved: every channel the same
    audio = decode(wav_saying(rate=rate, channels=channels, data=frames.tobytes()),
                   max_seconds=60)
    assert abs(len(audio) - RATE // 2) < 200
    assert float(np.sqrt(np.mean(audio**2))) == pytest.approx(8000 / 32768 / np.sqrt(2), rel=0.1)


def _resampled(audio: np.ndarray, rate: int) -> np.ndarray:
    return decode(encode(pcm16(audio), RATE, "wav", out_rate=rate), max_seconds=60, rate=rate)
