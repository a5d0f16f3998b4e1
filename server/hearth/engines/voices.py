"""Every installed voice behind one `Synthesizer`: Piper's, then eSpeak NG's.

Piper voices sound best, and a voices folder holds the languages someone installed;
eSpeak NG speaks nearly every language, robotically, so a character whose language
no Piper voice speaks (Korean, today) still talks. Each voice belongs to one engine,
known by its name (`espeak-ko` is eSpeak NG's).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from hearth.config import VoiceSettings
from hearth.engines import espeak
from hearth.engines.tts import PiperSynthesizer, Synthesizer, VoiceInfo


def load_voices(settings: VoiceSettings) -> Voices:
    return Voices(PiperSynthesizer(settings.voices_dir),
                  (espeak.PREFIX, espeak.EspeakSynthesizer()))


class Voices:
    """Every installed voice, each spoken by its own engine: Piper's voices, then the
    fallback engines' (eSpeak NG's, named `espeak-LANG`) for the other languages."""

    def __init__(self, piper: Synthesizer, *fallbacks: tuple[str, Synthesizer]) -> None:
        """`fallbacks`: (name prefix, engine) pairs; a voice named with the prefix is theirs."""
        self.piper = piper
        self.fallbacks = fallbacks

    def voices(self) -> list[VoiceInfo]:
        return [*self.piper.voices(), *(v for _, e in self.fallbacks for v in e.voices())]

    def voice(self, name: str) -> VoiceInfo:
        return self._engine(name).voice(name)

    def sample_rate(self, voice: str) -> int:
        return self._engine(voice).sample_rate(voice)

    def synthesize(
        self, text: str, *, voice: str, speaker: str | int | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        return self._engine(voice).synthesize(text, voice=voice, speaker=speaker, speed=speed)

    def for_language(self, language: str, default: str) -> str:
        """The voice for a BCP-47 tag ('ko', 'ko-KR', 'en_US'): `default` if it speaks the
        language, else the first of `speaking`; `default` when none does."""
        speaking = self.speaking(language)
        return default if default in speaking or not speaking else speaking[0]

    def speaking(self, language: str) -> list[str]:
        """The voices that speak `language`, best first: Piper's before the fallbacks' (they
        sound better), and within each, the tag's region before the language's others."""
        wanted = language.replace("-", "_").lower()
        base = wanted.split("_")[0]
        found: list[str] = []
        for engines in ([self.piper], [e for _, e in self.fallbacks]):
            voices = [v for e in engines for v in e.voices()
                      if base and v.language.lower().split("_")[0] == base]
            found += sorted((v.name for v in voices), key=lambda n: n not in {
                v.name for v in voices if v.language.lower() == wanted})
        return found

    def _engine(self, name: str) -> Synthesizer:
        for prefix, engine in self.fallbacks:
            if name.startswith(prefix):
                return engine
        return self.piper
