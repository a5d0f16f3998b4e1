"""Audio decoding on bad input made on purpose: random bytes, and real wav, flac, mp3,
ogg and m4a files (tones made here) cut short, with bytes flipped, or with headers
rewritten. `decode` gives float32 mono 16 kHz samples or a HearthError with a message;
nothing else escapes, and nothing hangs."""

from __future__ import annotations

import functools
import io
import struct
import threading
import time

import av
import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hearth.engines.codec import SAMPLE_RATE, decode
from hearth.errors import HearthError
from tests.fuzz.conftest import Tally

HANG_SECONDS = 30.0
# Every input here is a few KB and under 2 s of audio: decoding or refusing one costs
# milliseconds of CPU (the slowest seen, ~0.1 s), while a header that lies about its rate
# cost 10 s (issue 14). Thread CPU time, not wall time, so a busy machine does not count.
CPU_SECONDS = 2.0
# The 63-byte wav of issue 14: 214,040,035 Hz, 2 channels, 8-bit, 19 bytes of samples.
ISSUE_14_WAV = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16, 1,
                           2, 214_040_035, 428_080_070, 2, 8, b"data", 19) + bytes(19)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (container, codec) of files a client might send
FORMATS = {
    "wav": ("wav", "pcm_s16le"),
    "flac": ("flac", "flac"),
    "mp3": ("mp3", "libmp3lame"),
    "ogg": ("ogg", "libopus"),
    "m4a": ("mp4", "aac"),
}
MAGIC = [b"RIFF\xff\xff\xff\xffWAVEfmt ", b"fLaC", b"ID3\x04\x00\x00", b"\xff\xfb\x90\x64",
         b"OggS\x00\x02", b"\x1aE\xdf\xa3", b"\x00\x00\x00\x20ftypM4A ", b"caff", b"FORM"]


@functools.lru_cache(maxsize=64)
def tone_file(fmt: str, rate: int, channels: int, hz: int, seconds: float) -> bytes:
    """A sine tone encoded by FFmpeg itself (not by the code under test)."""
    container, codec = FORMATS[fmt]
    if codec not in av.codecs_available:
        container, codec = FORMATS["wav"]
    if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
        rate = 48000  # the rates Opus takes
    t = np.arange(int(rate * seconds)) / rate
    wave = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
    layout = "stereo" if channels == 2 else "mono"
    out = io.BytesIO()
    with av.open(out, "w", format=container) as c:
        stream = c.add_stream(codec, rate=rate, layout=layout)
        pcm = np.repeat(wave[None, :], channels, axis=0).T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm), format="s16", layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    return out.getvalue()


real_files = st.builds(
    tone_file,
    fmt=st.sampled_from(list(FORMATS)),
    rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    channels=st.sampled_from([1, 2]),
    hz=st.sampled_from([220, 440, 3000]),
    seconds=st.sampled_from([0.05, 0.4, 1.5]),
)


@st.composite
def damaged(draw: st.DrawFn, files: st.SearchStrategy[bytes]) -> bytes:
    """A real file, then one or more kinds of damage."""
    raw = bytearray(draw(files))
    for _ in range(draw(st.integers(1, 3))):
        if not raw:
            break
        kind = draw(st.sampled_from(["cut", "flip", "overwrite", "zero", "repeat", "drop"]))
        at = draw(st.integers(0, len(raw) - 1))
        size = draw(st.integers(1, 256))
        if kind == "cut":
            del raw[at:]
        elif kind == "flip":
            raw[at] ^= draw(st.integers(1, 255))
        elif kind == "overwrite":
            raw[at:at + size] = draw(st.binary(min_size=size, max_size=size))
        elif kind == "zero":
            raw[at:at + size] = bytes(len(raw[at:at + size]))
        elif kind == "repeat":
            raw[at:at] = raw[at:at + size] * draw(st.integers(1, 20))
        else:
            del raw[at:at + size]
    return bytes(raw)


@st.composite
def wav_headers(draw: st.DrawFn) -> bytes:
    """A wav whose format chunk may say anything: 0 channels, rate 0, 3 bits, float, ...
    Each field is plausible three times in four, so some files still decode."""

    def field(plausible: list[int], bits: int) -> int:
        if draw(st.integers(0, 3)):
            return draw(st.sampled_from(plausible))
        return draw(st.integers(0, 2**bits - 1))

    fmt_tag = field([1, 3, 6, 7, 0xFFFE], 16)  # PCM, float, A-law, mu-law, extensible
    channels = field([1, 2, 6], 16)
    rate = field([8000, 16000, 44100], 32)
    bits = field([8, 16, 24, 32, 64], 16)
    align = field([channels * bits // 8 & 0xFFFF], 16)
    data = draw(st.binary(max_size=4096))
    size = field([len(data), 0xFFFFFFFF], 32)
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16, fmt_tag,
                       channels, rate, rate * max(1, align) & 0xFFFFFFFF, align, bits,
                       b"data", size) + data


@st.composite
def float_wavs(draw: st.DrawFn) -> bytes:
    """A well-formed float wav whose samples are anything: NaN, infinities, 1e30."""
    dtype = draw(st.sampled_from(["<f4", "<f8"]))
    width = 32 if dtype == "<f4" else 64
    samples = draw(st.lists(st.floats(width=width), min_size=1, max_size=4000))
    data = np.array(samples, dtype).tobytes()
    size = width // 8
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 3,
                       1, 16000, 16000 * size, size, width, b"data", len(data)) + data


def decodes_or_refuses(raw: bytes, max_seconds: float) -> np.ndarray | None:
    """The decoder's contract, with a watchdog: a hang fails the test instead of the run."""
    outcome: list[object] = []
    spent: list[float] = []

    def run() -> None:
        started = time.thread_time()
        try:
            outcome.append(decode(raw, max_seconds=max_seconds))
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome.append(e)
        spent.append(time.thread_time() - started)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HANG_SECONDS)
    assert outcome, f"decode hung for {HANG_SECONDS} s on {len(raw)} bytes: {raw[:64]!r}"
    assert spent[0] < CPU_SECONDS, f"{spent[0]:.1f} s of CPU on {len(raw)} bytes: {raw[:64]!r}"
    result = outcome[0]
    if isinstance(result, HearthError):
        assert 400 <= result.status < 500 and result.code
        assert len(result.message) > 20, result.message
        return None
    if isinstance(result, BaseException):
        raise result
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float32 and result.ndim == 1 and len(result) > 0
    assert np.isfinite(result).all() and np.abs(result).max() <= 1.0, "the models read -1..1"
    # Decoding stops at the limit (plus what the resampler held back).
    assert len(result) <= (max_seconds + 0.5) * SAMPLE_RATE
    return result


max_seconds = st.sampled_from([0.2, 1.0, 60.0])


@FUZZ
@given(raw=st.binary(max_size=2048) | st.builds(bytes.__add__, st.sampled_from(MAGIC),
                                                st.binary(max_size=2048)),
       limit=max_seconds)
def test_random_bytes(tally: Tally, raw: bytes, limit: float) -> None:
    tally()
    decodes_or_refuses(raw, limit)


@FUZZ
@given(raw=damaged(real_files), limit=max_seconds)
def test_real_files_damaged(tally: Tally, raw: bytes, limit: float) -> None:
    tally()
    decodes_or_refuses(raw, limit)


@settings(FUZZ, max_examples=200)
@given(raw=wav_headers() | damaged(wav_headers()) | float_wavs(), limit=max_seconds)
@example(raw=ISSUE_14_WAV, limit=60.0)
def test_wav_headers_that_lie(tally: Tally, raw: bytes, limit: float) -> None:
    tally()
    decodes_or_refuses(raw, limit)


@settings(FUZZ, max_examples=30)
@given(fmt=st.sampled_from(list(FORMATS)), rate=st.sampled_from([8000, 22050, 48000]),
       channels=st.sampled_from([1, 2]))
def test_undamaged_files_decode_to_16k_mono(tally: Tally, fmt: str, rate: int,
                                            channels: int) -> None:
    tally()
    audio = decodes_or_refuses(tone_file(fmt, rate, channels, 440, 0.4), 60.0)
    assert audio is not None and abs(len(audio) / SAMPLE_RATE - 0.4) < 0.15
