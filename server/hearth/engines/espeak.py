"""Text to speech with eSpeak NG, and nothing else runs it.

eSpeak NG (Debian's `espeak-ng`) speaks about a hundred languages, Korean and
Japanese among them: robotic, but understood, and the floor for any language no
installed Piper voice speaks. Its voices are named `espeak-LANG` (`espeak-ko`).
Each call runs the program once, text on stdin (a text that starts with "-" is
never read as an option) and a WAV on stdout, read into int16 mono at the
voice's rate, as Piper's chunks are.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
import wave
from collections.abc import Iterator

import numpy as np

from hearth.engines.tts import MAX_SPEED, MIN_SPEED, VoiceInfo
from hearth.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

PREFIX = "espeak-"
ENGINE = "espeak-ng"
RATE = 22_050  # eSpeak NG's output rate, for every voice
WORDS_PER_MINUTE = 175  # its natural pace (speed 1.0)
MIN_WPM, MAX_WPM = 80, 450  # the rates it accepts
TIMEOUT_SECONDS = 60.0


class EspeakSynthesizer:
    """The eSpeak NG voices of the installed program; none when it is not installed."""

    def __init__(self, program: str = "espeak-ng") -> None:
        self.program = shutil.which(program)

    @property
    def installed(self) -> bool:
        return self.program is not None

    def voices(self) -> list[VoiceInfo]:
        return list(self._voices().values())

    def voice(self, name: str) -> VoiceInfo:
        info = self._voices().get(name)
        if info is None:
            hint = ("pick one from GET /api/voices" if self.installed
                    else "install eSpeak NG (`apt-get install espeak-ng`)")
            raise NotFound(f"there is no voice {name!r}; {hint}")
        return info

    def sample_rate(self, voice: str) -> int:
        return self.voice(voice).sample_rate

    def synthesize(
        self, text: str, *, voice: str, speaker: str | int | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """Int16 mono audio of `text` at RATE, as one chunk (callers pass a sentence at a
        time). Arguments are checked now; the program runs as the caller iterates."""
        info = self.voice(voice)
        if speaker is not None:
            raise InvalidInput(f"voice {voice!r} has a single speaker; leave the speaker out")
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise InvalidInput(
                f"speed {speed} is out of range; use a value from {MIN_SPEED} to {MAX_SPEED} "
                "(1.0 is the voice's natural pace)"
            )
        wpm = min(MAX_WPM, max(MIN_WPM, round(WORDS_PER_MINUTE * speed)))
        return self._run(text, info.name.removeprefix(PREFIX), wpm)

    def _run(self, text: str, language: str, wpm: int) -> Iterator[np.ndarray]:
        text = text.replace("\0", " ").strip()
        if not text:
            return
        assert self.program is not None  # `voice()` found the voice, so the program exists
        done = subprocess.run(
            [self.program, "-v", language, "-s", str(wpm), "-b", "1", "--stdout"],
            input=text.encode("utf-8", "replace"), capture_output=True,
            timeout=TIMEOUT_SECONDS, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"espeak-ng failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace')[:200]}")
        yield _pcm(done.stdout)

    def _voices(self) -> dict[str, VoiceInfo]:
        return _list_voices(self.program) if self.program else {}


@functools.cache
def _list_voices(program: str) -> dict[str, VoiceInfo]:
    """`espeak-ng --voices`: a header line, then `Pty Language Age/Gender VoiceName ...`."""
    listing = subprocess.run([program, "--voices"], capture_output=True, text=True,
                             timeout=TIMEOUT_SECONDS, check=True).stdout
    voices = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            name = PREFIX + fields[1]
            voices[name] = VoiceInfo(name=name, sample_rate=RATE, language=_piper_style(fields[1]),
                                     quality=None, engine=ENGINE)
    log.info("eSpeak NG: %d voices", len(voices))
    return voices


def _piper_style(language: str) -> str:
    """eSpeak's 'en-us' as Piper writes languages ('en_US'); 'ko' stays 'ko'."""
    parts = language.split("-")
    if len(parts) >= 2 and len(parts[1]) == 2:
        return f"{parts[0]}_{parts[1].upper()}"
    return parts[0]


def _pcm(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (RATE, 1, 2):
            raise RuntimeError(f"espeak-ng spoke {wav.getframerate()} Hz, {wav.getnchannels()} "
                               f"channel(s), {8 * wav.getsampwidth()} bits; expected {RATE} Hz "
                               "16-bit mono")
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.int16)
