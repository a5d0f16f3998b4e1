"""Text to speech: Piper voices on onnxruntime, and nothing else imports piper.

A voices folder holds `NAME.onnx` + `NAME.onnx.json` pairs; the file stem is the
voice's name. `PiperSynthesizer` lists them, loads each voice once on first use,
and turns text into int16 mono chunks at the voice's own rate, one per sentence
as Piper splits it, so a caller can play the first sentence while the next is
being made. Sessions are shared between threads: onnxruntime runs them
concurrently and piper guards its phonemizer with its own lock.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hearth.engines.embed import disable_onnxruntime_telemetry, lean_session
from hearth.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from piper import PiperVoice, SynthesisConfig

log = logging.getLogger(__name__)

MIN_SPEED, MAX_SPEED = 0.25, 4.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
# eSpeak reads C strings of UTF-8: a NUL, or half of a UTF-16 pair (JSON can carry
# "\ud800"), would end synthesis with an exception, mid-stream.
_UNSPEAKABLE = re.compile("[\0\ud800-\udfff]")


@dataclass(frozen=True)
class VoiceInfo:
    name: str  # the file stem
    sample_rate: int
    language: str  # e.g. "en_US"
    quality: str | None  # "x_low" | "low" | "medium" | "high", as the voice says
    speakers: dict[str, int] = field(default_factory=dict)  # empty: a single-speaker voice
    engine: str = "piper"  # what speaks it: "piper" or "espeak-ng"


class Synthesizer(Protocol):
    """What the rest of Hearth needs from a speech synthesizer."""

    def voices(self) -> list[VoiceInfo]: ...

    def voice(self, name: str) -> VoiceInfo: ...

    def sample_rate(self, voice: str) -> int: ...

    def synthesize(
        self, text: str, *, voice: str, speaker: str | int | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]: ...


class PiperSynthesizer:
    """The Piper voices in one folder, each loaded once and shared between threads."""

    def __init__(self, voices_dir: Path, *, threads: int | None = None) -> None:
        disable_onnxruntime_telemetry()
        try:
            import onnxruntime  # noqa: F401
            import piper  # noqa: F401
        except ImportError as e:  # pragma: no cover - install problem
            raise RuntimeError(
                "piper-tts is needed for speech output: run `make run` or `pip install piper-tts`"
            ) from e
        self.voices_dir = Path(voices_dir)
        self.threads = threads or os.cpu_count() or 1
        self._loaded: dict[str, tuple[VoiceInfo, PiperVoice]] = {}
        self._lock = threading.Lock()

    def voices(self) -> list[VoiceInfo]:
        """Every voice in the folder with a readable config, by name."""
        found = []
        for name in self._names():
            try:
                found.append(_info(name, self._config(name)))
            except (OSError, ValueError, TypeError, AttributeError) as e:
                log.warning("voice %s is skipped: its config cannot be read (%s)", name, e)
        return found

    def voice(self, name: str) -> VoiceInfo:
        """One voice's description, without loading its model."""
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded[0]
        self._check_name(name)
        return _info(name, self._config(name))

    def sample_rate(self, voice: str) -> int:
        return self.voice(voice).sample_rate

    def synthesize(
        self, text: str, *, voice: str, speaker: str | int | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """Int16 mono chunks of `text` spoken at `speed` (2.0: twice as fast), one per sentence.

        The voice is loaded and the arguments checked now, so mistakes raise here;
        the audio is made only as the caller iterates.
        """
        from piper import SynthesisConfig

        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise InvalidInput(
                f"speed {speed} is out of range; use a value from {MIN_SPEED} to {MAX_SPEED} "
                "(1.0 is the voice's natural pace)"
            )
        info, piper_voice = self._load(voice)
        config = SynthesisConfig(
            speaker_id=_speaker_id(info, speaker),
            length_scale=piper_voice.config.length_scale / speed,
        )
        return _chunks(piper_voice, _UNSPEAKABLE.sub(" ", text), config)

    def _names(self) -> list[str]:
        if not self.voices_dir.is_dir():
            return []
        return sorted(
            p.name[: -len(".onnx")]
            for p in self.voices_dir.iterdir()
            if p.name.endswith(".onnx") and p.is_file()
            and (self.voices_dir / f"{p.name}.json").is_file()
        )

    def _config(self, name: str) -> dict[str, Any]:
        config = json.loads((self.voices_dir / f"{name}.onnx.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("the config is not a JSON object")
        return config

    def _load(self, name: str) -> tuple[VoiceInfo, PiperVoice]:
        with self._lock:  # one load per voice, even when two requests want it at once
            loaded = self._loaded.get(name)
            if loaded is None:
                self._check_name(name)
                loaded = self._loaded[name] = self._open(name)
            return loaded

    def _check_name(self, name: str) -> None:
        # Only names listed in the folder: a name can never point outside it.
        if not (_NAME.fullmatch(name) and ".." not in name and name in self._names()):
            available = ", ".join(self._names()) or f"none (put Piper voices in {self.voices_dir})"
            raise NotFound(f"there is no voice {name!r}; installed voices: {available}")

    def _open(self, name: str) -> tuple[VoiceInfo, PiperVoice]:
        import onnxruntime as ort
        from piper import PiperConfig, PiperVoice

        config = self._config(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Idle workers would otherwise spin after each sentence, taking CPU from the
        # chat model, which is usually generating the next sentence on the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = lean_session(self.voices_dir / f"{name}.onnx", options)
        log.info("voice %s loaded (%d threads)", name, self.threads)
        piper_voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
        return _info(name, config), piper_voice


def _chunks(voice: PiperVoice, text: str, config: SynthesisConfig) -> Iterator[np.ndarray]:
    for chunk in voice.synthesize(text, syn_config=config):
        yield chunk.audio_int16_array


def _speaker_id(info: VoiceInfo, speaker: str | int | None) -> int | None:
    if speaker is None:
        return None
    if not info.speakers:
        raise InvalidInput(f"voice {info.name!r} has a single speaker; leave the speaker out")
    if isinstance(speaker, str) and speaker in info.speakers:
        return info.speakers[speaker]
    if isinstance(speaker, str) and speaker.isdigit():  # an id given as text (a query string)
        speaker = int(speaker)
    if isinstance(speaker, int) and not isinstance(speaker, bool) and (
        speaker in info.speakers.values()
    ):
        return speaker
    some = ", ".join(list(info.speakers)[:10])
    raise InvalidInput(
        f"voice {info.name!r} has no speaker {speaker!r}; give one of its {len(info.speakers)} "
        f"speakers by name (e.g. {some}) or id (0-{max(info.speakers.values())})"
    )


def _info(name: str, config: dict[str, Any]) -> VoiceInfo:
    audio = config.get("audio", {})
    language = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice", "")
    speakers = config.get("speaker_id_map") or {}
    return VoiceInfo(
        name=name,
        sample_rate=int(audio.get("sample_rate", 22050)),
        language=str(language),
        quality=audio.get("quality"),
        speakers={str(k): int(v) for k, v in speakers.items()},
    )


def check_voice(model: Path, config: Path) -> VoiceInfo:
    """Check a Piper voice before it is installed: its config is complete (sample rate,
    phoneme type, phonemes) and its model opens in onnxruntime with Piper's inputs.
    Raises `InvalidInput` saying what is wrong."""
    import onnxruntime as ort
    from piper import PiperConfig

    if not config.is_file():
        raise InvalidInput(f"a Piper voice is two files: {config.name} is missing beside "
                           f"{model.name} (it comes with the voice, as NAME.onnx.json)")
    try:
        raw = json.loads(config.read_text(encoding="utf-8"))
        PiperConfig.from_dict(raw)  # every key Piper needs, with a phoneme type it knows
        info = _info(model.name.removesuffix(".onnx"), raw)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidInput(f"{config.name} is not a Piper voice config ({type(e).__name__}: "
                           f"{e}); use the .onnx.json that came with the voice") from e
    if not 8000 <= info.sample_rate <= 48000:
        raise InvalidInput(f"{config.name} says the voice speaks at {info.sample_rate} Hz; "
                           "Piper voices use 16000-22050 Hz: the config is damaged")
    disable_onnxruntime_telemetry()
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # a check
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise InvalidInput(f"{model.name} is not an ONNX model onnxruntime can open "
                           f"({str(e).splitlines()[0][:200]}); download the voice again") from e
    inputs = {i.name for i in session.get_inputs()}
    if not {"input", "input_lengths", "scales"} <= inputs:
        raise InvalidInput(f"{model.name} is an ONNX model but not a Piper voice (its inputs "
                           f"are {', '.join(sorted(inputs))})")
    return info
