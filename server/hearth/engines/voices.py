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
        language, else a Piper voice that does (the region's first), else a fallback
        engine's; `default` when none does."""
        wanted = language.replace("-", "_").lower()
        base = wanted.split("_")[0]
        if not base:
            return default
        for engines in ([self.piper], [e for _, e in self.fallbacks]):
            speaking = [v for e in engines for v in e.voices()
                        if v.language.lower().split("_")[0] == base]
            if speaking:
                names = [v.name for v in speaking]
                if default in names:
                    return default
                exact = [v.name for v in speaking if v.language.lower() == wanted]
                return (exact or names)[0]
        return default

    def _engine(self, name: str) -> Synthesizer:
        for prefix, engine in self.fallbacks:
            if name.startswith(prefix):
                return engine
        return self.piper
