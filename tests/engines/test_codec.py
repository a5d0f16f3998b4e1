"""Audio files in and out with PyAV: every format a client sends decodes to 16 kHz mono,
every format a client asks for encodes (whole or streamed), and bad files get a 4xx."""

from __future__ import annotations

import io
import struct

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


def _resampled(audio: np.ndarray, rate: int) -> np.ndarray:
    return decode(encode(pcm16(audio), RATE, "wav", out_rate=rate), max_seconds=60, rate=rate)
