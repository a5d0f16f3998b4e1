"""Speech to text: faster-whisper (CTranslate2), and nothing else imports it.

`Transcriber` is tuned for the voice loop's short utterances on a CPU: greedy
decoding, no conditioning on earlier windows, and no VAD pass for audio that
fits in one 30 s window (the endpointer has already cut it).

Whisper reads audio in 30 s windows, so through faster-whisper a 2 s utterance
costs as much as a 30 s one (about a second for tiny.en on two cores), nearly
all of it in the encoder. For a short utterance in a known language we encode
only the utterance and a second of silence (CTranslate2 accepts the shorter
input, as whisper.cpp's `audio_ctx` does) and decode it ourselves: about 3x
faster. Past the speech the model tends to repeat itself, so decoding is
bounded (by language: Korean costs Whisper's tokenizer about twice the tokens
per second of speech that English does) and segments that start after the
audio ends are dropped.

`SpeechToText` routes by language between the configured model (tiny.en by
default: fast, English only) and a multilingual one (Whisper base) for every
other language and for detection; a language neither knows is refused, never
silently heard as English.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hearth.config import VoiceSettings
from hearth.errors import InvalidInput

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 30.0  # Whisper reads audio in windows of this length
SHORT_SECONDS = 20.0  # up to this long, only the utterance itself is encoded
PAD_SECONDS = 1.0  # silence encoded after a short utterance, at least
BUCKET_SECONDS = 0.5  # a short utterance's padded length is a whole number of these
TOKENS_PER_SECOND = 8  # decoding budget of a short English utterance: fast speech is ~6
# Other languages cost Whisper's byte-level tokenizer more tokens per second of speech:
# a Hangul syllable is 1-3 tokens, and Korean is spoken at 6-8 syllables a second.
TOKENS_PER_SECOND_BY_LANGUAGE = {"ko": 24, "ja": 24, "zh": 20, "yue": 20, "th": 24}
TOKENS_PER_SECOND_OTHER = 14
AUTO = "auto"  # the language a request gives to have it detected
# BCP-47 subtags Whisper spells differently (or older ones a client may still send).
_WHISPER_CODES = {"jv": "jw", "iw": "he", "in": "id", "nb": "no", "fil": "tl"}
NO_SPEECH = 0.6  # Whisper's no-speech probability above which unsure text is dropped


@functools.cache
def whisper_languages() -> list[str]:
    """Every language a multilingual Whisper model knows (99 codes, 'yue' in newer ones)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return list(_LANGUAGE_CODES)


class Segment(NamedTuple):
    start: float  # seconds from the start of the audio
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration: float  # seconds of audio
    segments: list[Segment]
    # The probability Whisper gave the text's last token (its full stop, usually): how
    # sure it was that the words end there. None when not known (long recordings).
    last_p: float | None = None


class Transcriber:
    """One loaded Whisper model. Safe to share: a lock runs one transcription at a
    time (CTranslate2 would interleave them, delaying both)."""

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "auto",
        compute_type: str = "default",
        language: str | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        """`model` is a CTranslate2 model folder or a size name ('tiny.en', 'base', ...)
        that faster-whisper downloads once; `language` None detects it per utterance."""
        try:
            import ctranslate2
            from faster_whisper import WhisperModel
        except ImportError as e:  # pragma: no cover - install problem
            raise RuntimeError(
                "speech-to-text needs faster-whisper: `pip install faster-whisper`"
            ) from e
        model = os.path.expanduser(str(model))
        # A path (not a size name or hub id such as 'Systran/faster-whisper-tiny') must exist.
        if (os.path.isabs(model) or model.startswith(".")) and not os.path.isdir(model):
            raise FileNotFoundError(
                f"speech-to-text model folder {model} is missing: "
                "run `python scripts/install_models.py` or set voice.stt_model"
            )
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        started = time.perf_counter()
        self._model = WhisperModel(
            model,
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads or os.cpu_count() or 1,
        )
        self._lock = threading.Lock()
        self.name = Path(model).name
        self.device = device
        self.languages: list[str] = self._model.supported_languages
        self.language = self._check_language(language)
        log.info(
            "speech-to-text %s loaded on %s (%s) in %.2f s",
            self.name, device, compute_type, time.perf_counter() - started,
        )

    @property
    def english_only(self) -> bool:
        return self.languages == ["en"]

    def transcribe(
        self, audio: np.ndarray, *, language: str | None = None, prompt: str | None = None
    ) -> Transcript:
        """Float32 16 kHz mono audio → its text. `prompt` hints at words and style
        (names, spelling), as Whisper's initial prompt."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        language = (self._check_language(language) or self.language
                    or ('en' if self.english_only else None))
        duration = len(audio) / SAMPLE_RATE
        if not len(audio):
            return Transcript("", language or "en", 0.0, [])
        last_p = None
        with self._lock:
            started = time.perf_counter()
            if duration <= SHORT_SECONDS and language is not None:
                raw, last_p = self._short(audio, language, prompt)
            else:
                segments, info = self._model.transcribe(
                    audio,
                    language=language,
                    beam_size=1,
                    condition_on_previous_text=False,
                    initial_prompt=prompt or None,
                    # Long recordings: skip their silences rather than decode them.
                    vad_filter=duration > WINDOW_SECONDS,
                )
                # Decoding happens while the segments are iterated, so inside the lock.
                raw = [Segment(s.start, s.end, s.text.strip()) for s in segments]
                language = info.language
            elapsed = time.perf_counter() - started
        log.debug("transcribed %.2f s of audio in %.2f s", duration, elapsed)
        return Transcript(
            text=" ".join(s.text for s in raw if s.text).strip(),
            language=language,
            duration=duration,
            segments=raw,
            last_p=last_p,
        )

    def _short(self, audio: np.ndarray, language: str, prompt: str | None
               ) -> tuple[list[Segment], float | None]:
        """Encode just this utterance (plus a little silence) and decode it greedily;
        with its segments, the probability of the last token they keep.

        The silence rounds the length up to a whole bucket: CTranslate2's oneDNN keeps
        the convolutions it prepares for every input length it meets (about 0.3 MB
        each, up to 1,024 of them), so lengths to the sample made the server's memory
        grow with every new utterance; a few dozen buckets bound it.
        """
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        duration = len(audio) / SAMPLE_RATE
        bucket = int(BUCKET_SECONDS * SAMPLE_RATE)
        length = -(-(len(audio) + int(PAD_SECONDS * SAMPLE_RATE)) // bucket) * bucket
        padded = np.concatenate([audio, np.zeros(length - len(audio), np.float32)])
        features = model.feature_extractor(padded)[:, :-1]
        features = np.ascontiguousarray(features[None, :, : features.shape[1] // 2 * 2])
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                              task="transcribe", language=language)
        previous = tokenizer.encode(" " + prompt.strip()) if prompt and prompt.strip() else []
        start_tokens = model.get_prompt(tokenizer, previous)
        (result,) = model.model.generate(
            ctranslate2.StorageView.from_array(features), [start_tokens], beam_size=1,
            max_length=len(start_tokens) + int(8 + tokens_per_second(language) * duration),
            return_scores=True, return_no_speech_prob=True, return_logits_vocab=True,
        )
        tokens = result.sequences_ids[0]
        # faster-whisper's own test for a window without speech ("you" from silence).
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > NO_SPEECH and avg_logprob < -1.0:
            return [], None
        segments, last = _split(tokens, tokenizer, duration)
        if last is None:
            return segments, None
        return segments, _probability(result.logits[0][last], tokens[last])

    def _check_language(self, language: str | None) -> str | None:
        if not language:
            return None
        language = whisper_language(language)
        if language not in self.languages:
            if self.english_only and language in whisper_languages():
                raise InvalidInput(
                    f"language: {self.name} only knows English, not {language!r}; install a "
                    "multilingual model (`python scripts/install_models.py`) and set "
                    "voice.stt_multilingual_model, or send English"
                )
            raise _unknown_language(language)
        return language


def tokens_per_second(language: str) -> int:
    """How many tokens a second of speech in `language` may decode to, at most."""
    if language == "en":
        return TOKENS_PER_SECOND
    return TOKENS_PER_SECOND_BY_LANGUAGE.get(language, TOKENS_PER_SECOND_OTHER)


def whisper_language(tag: str) -> str:
    """A BCP-47 tag as a client or a profile gives it ('ko-KR', 'pt_BR') → Whisper's code."""
    code = tag.strip().lower().replace("_", "-").split("-")[0]
    return _WHISPER_CODES.get(code, code)


def _unknown_language(language: str) -> InvalidInput:
    return InvalidInput(
        f"language: {language!r} is not a language Whisper knows; use an ISO 639-1 code "
        "such as 'en', 'ko' or 'de' (a BCP-47 tag such as 'ko-KR' works too), or 'auto' "
        "or nothing to have it detected"
    )


class SpeechToText:
    """The configured Whisper models, chosen per utterance by language.

    `main` (voice.stt_model) hears the languages it knows; `multilingual`
    (voice.stt_multilingual_model), loaded on first use, hears the rest and detects
    the language when `main` knows only English. `language`: a code or BCP-47 tag,
    'auto' to detect, or None for voice.language, else what `main` assumes (English
    for an English-only model, detection for a multilingual one).
    """

    def __init__(self, settings: VoiceSettings,
                 load: Callable[[str], Transcriber] | None = None) -> None:
        self.settings = settings
        self._load = load or (lambda model: _load(model, settings))
        self.main = self._load(settings.stt_model)
        self._multilingual: Transcriber | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.main.name

    @property
    def languages(self) -> list[str]:
        """Every language this server can hear."""
        return whisper_languages() if self.has_multilingual else self.main.languages

    @property
    def has_multilingual(self) -> bool:
        """Whether a model beside `main` can hear other languages (installed or a hub name)."""
        model = self.settings.stt_multilingual_model
        if not self.main.english_only or not model:
            return False
        return not _is_path(model) or os.path.isdir(os.path.expanduser(model))

    def offered(self) -> list[tuple[str, list[str]]]:
        """Each model's name and languages, `main` first, loaded or not."""
        offered = [(self.main.name, self.main.languages)]
        if self.has_multilingual:
            name = Path(str(self.settings.stt_multilingual_model)).name
            offered.append((name, [c for c in whisper_languages() if c != "en"]))
        return offered

    def multilingual(self) -> Transcriber:
        with self._lock:
            if self._multilingual is None:
                log.info("loading multilingual speech-to-text model %s",
                         self.settings.stt_multilingual_model)
                self._multilingual = self._load(str(self.settings.stt_multilingual_model))
            return self._multilingual

    def route(self, language: str | None) -> tuple[Transcriber, str | None]:
        """The model for `language` and Whisper's code for it (None: detect)."""
        language = language or self.settings.language
        if not language or not language.strip():
            return self.main, None
        code = whisper_language(language)
        if code == AUTO:
            if self.main.english_only and self.has_multilingual:
                return self.multilingual(), None
            if self.main.english_only:
                raise InvalidInput(
                    f"language: {self.main.name} only knows English, so it cannot detect a "
                    "language; install a multilingual model (`python scripts/install_models.py`)"
                    " or give the language"
                )
            return self.main, None
        if code not in whisper_languages():
            raise _unknown_language(language.strip())
        if code in self.main.languages or not self.has_multilingual:
            return self.main, code  # `main` refuses a language it does not know
        return self.multilingual(), code

    def transcribe(
        self, audio: np.ndarray, *, language: str | None = None, prompt: str | None = None
    ) -> Transcript:
        model, code = self.route(language)
        return model.transcribe(audio, language=code, prompt=prompt)


def _segments(tokens: list[int], tokenizer: Any, duration: float) -> list[Segment]:
    """Timestamped tokens → segments, dropping what the model made up past the audio."""
    return _split(tokens, tokenizer, duration)[0]


def _split(tokens: list[int], tokenizer: Any, duration: float
           ) -> tuple[list[Segment], int | None]:
    """`_segments`, and the index in `tokens` of the last token of the text they keep."""
    segments: list[Segment] = []
    last: int | None = None
    start, text, places = 0.0, [], []  # the segment's text tokens and their indices
    for i, token in enumerate([*tokens, tokenizer.eot]):
        if token < tokenizer.eot:
            text.append(token)
            places.append(i)
            continue
        timestamp = token >= tokenizer.timestamp_begin
        at = (token - tokenizer.timestamp_begin) * 0.02 if timestamp else duration
        if at > duration + PAD_SECONDS:
            # A time the encoded audio does not have: a slip of the model, not the end of
            # the speech ("the k <7.00> is on, come..." of 2.5 s); the words go on.
            continue
        if text and start < duration - 0.1:
            segment = Segment(start, min(at, duration),
                              _without_restart(tokenizer.decode(text)))
            if segments and _words(segments[-1].text).startswith(_words(segment.text)):
                break  # a repeat: the model ran past the speech
            segments.append(segment)
            last = _last_kept(text, places, segment.text, tokenizer)
        if not timestamp:  # end of text
            break
        start, text, places = at, [], []
    return segments, last


def _last_kept(text: list[int], places: list[int], kept: str, tokenizer: Any
               ) -> int | None:
    """The index (of `places`, where each of `text` is) of the token that ends the kept
    words: the last, unless `_without_restart` cut the text short."""
    for j in [len(text) - 1, *range(len(text) - 1)]:
        if tokenizer.decode(text[: j + 1]).strip() == kept:
            return places[j]
    return None


def _probability(logits: Any, token: int) -> float:
    """The probability of `token` among the step's logits (a CTranslate2 StorageView)."""
    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    top = row.max()
    return float(np.exp(row[token] - top) / np.exp(row - top).sum())


def _without_restart(text: str) -> str:
    """Cut a text that starts over ("Do you like cats? Do you like") where it restarts."""
    words = text.split()
    plain = _words(text).split()
    if len(plain) == len(words):
        for k in range(2, len(words) - 1):
            if plain[k:] == plain[: len(words) - k]:
                return " ".join(words[:k])
    return text.strip()


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]", " ", text.lower()).split())


def _is_path(model: str) -> bool:
    model = os.path.expanduser(model)
    return os.path.isabs(model) or model.startswith(".")


def _load(model: str, settings: VoiceSettings) -> Transcriber:
    return Transcriber(model, device=settings.stt_device, compute_type=settings.stt_compute_type)


def load_transcriber(settings: VoiceSettings) -> SpeechToText:
    return SpeechToText(settings)
