"""Audio files in and out: PyAV (FFmpeg's libraries in the wheel), and nothing else imports it.

`decode` turns whatever a client uploads (wav, flac, mp3, ogg/opus, webm, m4a, ...)
into the float32 16 kHz mono the speech models read, and refuses with a 4xx what
is not audio or is too long; `PcmConverter` does the same for raw PCM that arrives
in pieces (Wyoming's audio chunks). `encode` and `StreamEncoder` turn the voice's int16
PCM into the formats an OpenAI-style client asks for; the stream encoder hands
out bytes as the container produces them, so speech can play while it is made.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from hearth.errors import InvalidInput, TooLarge

try:
    import av
    from av.audio.resampler import AudioResampler
except ImportError as e:  # pragma: no cover - install problem
    raise RuntimeError("PyAV is needed to read and write audio: `pip install av`") from e

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what the speech models read
UNKNOWN_SIZE = 0xFFFFFFFF  # RIFF size of a wav whose length is not known yet
GROUP_SECONDS = 5.0  # audio resampled per call while decoding
MIN_PCM_RATE, MAX_PCM_RATE = 8_000, 48_000  # raw PCM accepted (`PcmConverter`)
# Files accepted: telephone to studio rates, up to 7.1. FFmpeg's resampler builds filters
# that grow with the input rate (a wav claiming 214 MHz cost 10 s of CPU for 19 bytes).
MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_CHANNELS = 8
_WAV_WIDTHS = {1: (8, 16, 24, 32), 3: (32, 64), 6: (8,), 7: (8,), 0xFFFE: (8, 16, 24, 32, 64)}
# Downmix to mono as the mean of the channels (FFmpeg's default adds them at -3 dB,
# which makes a stereo recording louder than its mono original, up to clipping).
MONO = {"rematrix_maxval": "1.0"}


@dataclass(frozen=True)
class _Format:
    media_type: str
    container: str | None = None  # None: raw PCM written here (wav, pcm)
    codec: str | None = None
    bit_rate: int | None = None
    options: dict[str, str] = field(default_factory=dict)


_FORMATS = {
    "wav": _Format("audio/wav"),
    "pcm": _Format("audio/pcm"),  # raw signed 16-bit little-endian, mono
    "flac": _Format("audio/flac", "flac", "flac"),
    "mp3": _Format("audio/mpeg", "mp3", "libmp3lame", 64_000),
    # Ogg holds back a page until it spans page_duration (default 1 s); 100 ms
    # keeps streamed speech flowing at ~6% container overhead.
    "opus": _Format("audio/ogg", "ogg", "libopus", 32_000, {"page_duration": "100000"}),
    "aac": _Format("audio/aac", "adts", "aac", 64_000),
}

MEDIA_TYPES = {name: spec.media_type for name, spec in _FORMATS.items()}


def decode(data: bytes, *, max_seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Any audio file's first audio stream as float32 mono at `rate` Hz.

    Decoding stops as soon as the audio passes `max_seconds`, so a small file
    that unpacks to hours costs no more than the limit, and a rate or channel count
    no recording has is refused before any of it is resampled. A damaged packet is
    skipped; a file cut short keeps what was decoded before the cut.
    """
    if not data:
        raise InvalidInput("the audio file is empty; record some speech and send it again")
    _check_wav(data)
    chunks: list[np.ndarray] = []
    seconds = 0.0
    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise InvalidInput(
                    "the file has no audio stream; send a recording (wav, flac, mp3, ogg, webm)"
                )
            converter: _ToMono | None = None
            for frame in _frames(container, container.streams.audio[0]):
                seconds += frame.samples / frame.sample_rate
                if seconds > max_seconds:
                    raise _too_long(max_seconds)
                if converter is None or not converter.takes(frame):
                    _check_shape(frame.sample_rate, len(frame.layout.channels))
                    # A new shape (say, a chained Ogg file changing its rate midway).
                    if converter is not None:
                        chunks += converter.flush()
                    converter = _ToMono(frame, rate)
                chunks += converter.push(frame)
            if converter is not None:
                chunks += converter.flush()
    except av.error.FFmpegError as e:
        raise InvalidInput(
            f"the file could not be read as audio ({e.strerror or e}); "
            "send wav, flac, mp3, ogg/opus or webm"
        ) from e
    if not any(len(c) for c in chunks):
        raise InvalidInput("the file contains no audio samples; send a recording with sound in it")
    # A float file can hold NaN, infinities or 1e30, and lossy codecs overshoot a little:
    # the speech models read -1..1.
    audio = np.nan_to_num(np.concatenate(chunks), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(audio, -1.0, 1.0, out=audio)


def _check_shape(rate: int, channels: int) -> None:
    """Refuse a rate or channel count no recording has, before any work is spent on it."""
    if not (MIN_RATE <= rate <= MAX_RATE and 1 <= channels <= MAX_CHANNELS):
        raise InvalidInput(
            f"the file says its audio is {rate} Hz in {channels} channel(s); send a recording "
            f"at {MIN_RATE}-{MAX_RATE} Hz with 1-{MAX_CHANNELS} channels"
        )


def _check_wav(data: bytes) -> None:
    """A wav's format chunk, checked before FFmpeg takes it at its word.

    `decode` checks every file's decoded frames too; this gives a wav whose header
    lies (0 Hz, 0 channels, 0-bit samples) a message that says which field is wrong.
    The sizes are not checked: a streamed or cut-short wav reads to the end of the file.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    at = 12
    while at + 8 <= len(data):
        chunk, size = struct.unpack_from("<4sI", data, at)
        if chunk == b"data":
            return
        if chunk == b"fmt " and size >= 16 and at + 24 <= len(data):
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, at + 8)
            _check_shape(rate, channels)
            if bits not in _WAV_WIDTHS.get(tag, (bits,)):
                raise InvalidInput(
                    f"the file says its samples are {bits}-bit, which its format (wav format "
                    f"{tag:#06x}) does not have; send 8, 16, 24 or 32-bit PCM or 32-bit float"
                )
            return
        at += 8 + size + (size & 1)


def _too_long(max_seconds: float) -> TooLarge:
    return TooLarge(
        f"the audio is longer than the limit of {max_seconds:g} seconds "
        "(limits.max_audio_seconds); send a shorter recording"
    )


class PcmConverter:
    """Raw PCM arriving in pieces (a Wyoming audio stream) → float32 mono at `rate` Hz,
    converted as it comes, so only the speech models' form of it is ever held.

    `width` is bytes a sample (1: unsigned 8-bit, 2: signed 16-bit, 4: signed 32-bit),
    channels interleaved. A piece may end mid-frame; the rest comes with the next.
    More than `max_seconds` of audio in all is refused with TooLarge.
    """

    _FORMATS = {1: ("u8", np.uint8), 2: ("s16", np.int16), 4: ("s32", np.int32)}
    _LAYOUTS = {1: "mono", 2: "stereo"}

    def __init__(self, in_rate: int, width: int, channels: int, *, max_seconds: float,
                 rate: int = SAMPLE_RATE) -> None:
        if width not in self._FORMATS or channels not in self._LAYOUTS or not (
            MIN_PCM_RATE <= in_rate <= MAX_PCM_RATE
        ):
            raise InvalidInput(
                f"cannot read PCM at {in_rate} Hz, {width} bytes a sample, {channels} "
                f"channel(s); send {MIN_PCM_RATE}-{MAX_PCM_RATE} Hz, 1, 2 or 4 bytes a sample, "
                "mono or stereo (16000 Hz, 2 bytes, mono is what the speech models read)"
            )
        self.in_rate, self.width, self.channels = in_rate, width, channels
        self.max_seconds = max_seconds
        self.seconds = 0.0  # of audio taken in so far
        self._format, self._dtype = self._FORMATS[width]
        self._resampler = AudioResampler("flt", "mono", rate, options=MONO)
        self._partial = b""  # the start of a frame whose rest has not come yet

    def push(self, data: bytes) -> np.ndarray:
        data = self._partial + data
        frame_bytes = self.width * self.channels
        whole = len(data) // frame_bytes * frame_bytes
        self._partial = data[whole:]
        if not whole:
            return np.zeros(0, np.float32)
        self.seconds += whole / frame_bytes / self.in_rate
        if self.seconds > self.max_seconds:
            raise _too_long(self.max_seconds)
        packed = np.frombuffer(data[:whole], self._dtype)[None, :]  # packed: one plane
        frame = av.AudioFrame.from_ndarray(
            packed, format=self._format, layout=self._LAYOUTS[self.channels]
        )
        frame.sample_rate = self.in_rate
        return _joined(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """What the resampler still holds; the end of the audio."""
        return _joined(self._resampler.resample(None))


def _joined(frames: list[av.AudioFrame]) -> np.ndarray:
    return np.concatenate([np.zeros(0, np.float32), *_samples(frames)])


class _ToMono:
    """Resamples frames of one shape to float32 mono, seconds at a time: with the
    small frames most files hold, FFmpeg's per-call cost would otherwise dominate."""

    def __init__(self, frame: av.AudioFrame, rate: int) -> None:
        self._shape = _shape(frame)
        self._fifo = av.AudioFifo()
        self._resampler = AudioResampler("flt", "mono", rate, options=MONO)
        self._group = int(GROUP_SECONDS * frame.sample_rate)

    def takes(self, frame: av.AudioFrame) -> bool:
        return _shape(frame) == self._shape

    def push(self, frame: av.AudioFrame) -> list[np.ndarray]:
        frame.pts = None  # joined as they come: gaps or broken timestamps don't matter
        self._fifo.write(frame)
        if self._fifo.samples < self._group:
            return []
        return _samples(self._resampler.resample(self._fifo.read()))

    def flush(self) -> list[np.ndarray]:
        frames = self._resampler.resample(self._fifo.read()) if self._fifo.samples else []
        return _samples(frames + self._resampler.resample(None))


def _shape(frame: av.AudioFrame) -> tuple[str, str, int]:
    return frame.format.name, frame.layout.name, frame.sample_rate


def _frames(
    container: av.container.InputContainer, stream: av.AudioStream
) -> Iterator[av.AudioFrame]:
    """Decoded frames, packet by packet, so one bad packet doesn't end the file."""
    decoded = False
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            decoded = decoded or bool(frames)
            yield from frames
    except av.error.FFmpegError:
        if not decoded:
            raise
        log.warning("audio file cut short or damaged; using the part before the damage")


def _samples(frames: list[av.AudioFrame]) -> list[np.ndarray]:
    return [frame.to_ndarray().reshape(-1) for frame in frames]


def encode(pcm: np.ndarray, rate: int, fmt: str, *, out_rate: int | None = None) -> bytes:
    """A whole file of int16 mono `pcm` at `rate` Hz in `fmt` (see `MEDIA_TYPES`).

    `out_rate` resamples; compressed formats use their codec's nearest supported
    rate at or above it (Opus: 8, 12, 16, 24 or 48 kHz).
    """
    if fmt == "wav":  # unlike the streamed header, the sizes are known here
        body = encode(pcm, rate, "pcm", out_rate=out_rate)
        return _wav_header(out_rate or rate, len(body)) + body
    encoder = StreamEncoder(fmt, rate, out_rate=out_rate)
    return encoder.feed(pcm) + encoder.close()


class StreamEncoder:
    """Encodes int16 mono PCM chunk by chunk: `feed` returns the bytes ready so far,
    `close` the rest.

    A streamed wav starts with a header whose RIFF and data sizes are 0xFFFFFFFF
    (length unknown), as OpenAI's streamed wav does; players read to the end of
    the stream. Codecs hold back a little audio (an MP3 or Opus frame, an Ogg
    page), so the bytes of a chunk may arrive with the next `feed` or `close`.
    Not thread-safe: one encoder per stream.
    """

    def __init__(self, fmt: str, rate: int, *, out_rate: int | None = None) -> None:
        spec = _FORMATS.get(fmt)
        if spec is None:
            raise InvalidInput(
                f"unknown audio format {fmt!r}; use one of {', '.join(_FORMATS)}"
            )
        self.fmt = fmt
        self.media_type = spec.media_type
        self.rate = rate
        self._closed = False
        self._fed = 0  # samples fed so far
        self._out: list[bytes] = []
        self._resampler: AudioResampler | None = None
        self._container: av.container.OutputContainer | None = None
        if spec.codec is None:
            self.out_rate = out_rate or rate
            if self.out_rate != rate:
                self._resampler = AudioResampler("s16", "mono", self.out_rate)
            if fmt == "wav":
                self._out.append(_wav_header(self.out_rate, None))
            return
        self.out_rate = _codec_rate(spec.codec, out_rate or rate)
        # A sink without seek(): FFmpeg then writes as it goes, never going back.
        self._container = av.open(
            _Sink(self._out), "w", format=spec.container, container_options=spec.options
        )
        self._stream = self._container.add_stream(spec.codec, rate=self.out_rate, layout="mono")
        if spec.bit_rate:
            self._stream.codec_context.bit_rate = spec.bit_rate

    def feed(self, pcm: np.ndarray) -> bytes:
        if self._closed:
            raise RuntimeError("the encoder is closed")
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise TypeError("feed() takes int16 mono PCM (a 1-D int16 array)")
        if not pcm.size:
            return self._take()
        if self._container is None and self._resampler is None:
            self._out.append(pcm.astype("<i2", copy=False).tobytes())
            return self._take()
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = self.rate
        frame.pts, frame.time_base = self._fed, Fraction(1, self.rate)  # muxers need timestamps
        self._fed += len(pcm)
        self._encode(frame)
        return self._take()

    def close(self) -> bytes:
        """Flush what the resampler and codec hold; the stream's last bytes."""
        if not self._closed:
            self._encode(None)
            if self._container is not None:
                self._container.close()
            self._closed = True
        return self._take()

    def _encode(self, frame: av.AudioFrame | None) -> None:
        """Push a frame (None: flush) through the codec, or through the resampler for raw PCM."""
        if self._container is not None:
            self._container.mux(self._stream.encode(frame))
        elif self._resampler is not None:
            for out in self._resampler.resample(frame):
                self._out.append(out.to_ndarray().astype("<i2", copy=False).tobytes())

    def _take(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data


class _Sink:
    """A write-only file for PyAV: collects what the muxer writes."""

    def __init__(self, out: list[bytes]) -> None:
        self._out = out

    def write(self, data: bytes) -> int:
        self._out.append(bytes(data))
        return len(data)


def _codec_rate(codec: str, rate: int) -> int:
    rates = av.Codec(codec, "w").audio_rates
    if not rates:
        return rate
    return min((r for r in rates if r >= rate), default=max(rates))


def _wav_header(rate: int, data_bytes: int | None) -> bytes:
    data_size = UNKNOWN_SIZE if data_bytes is None else data_bytes
    riff_size = UNKNOWN_SIZE if data_bytes is None else 36 + data_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", riff_size, b"WAVE",
        b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16,  # PCM, mono, 16-bit
        b"data", data_size,
    )
