"""Piper on the real default voice: int16 speech at the voice's rate, checked by ear (Whisper)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from hearth.config import DEFAULT_VOICE, DEFAULT_VOICES_DIR
from hearth.engines.codec import decode, encode
from hearth.engines.embed import disable_onnxruntime_telemetry
from hearth.engines.stt import Transcriber
from hearth.engines.tts import PiperSynthesizer
from hearth.errors import InvalidInput, NotFound
from tests.utils.heap import live_heap_bytes

disable_onnxruntime_telemetry()

RATE = 22_050


@pytest.fixture(scope="module")
def synthesizer() -> PiperSynthesizer:
    if not (DEFAULT_VOICES_DIR / f"{DEFAULT_VOICE}.onnx").is_file():
        pytest.fail(f"{DEFAULT_VOICES_DIR} has no {DEFAULT_VOICE}: run `make run` to install it")
    return PiperSynthesizer(DEFAULT_VOICES_DIR)


def speak(synthesizer: PiperSynthesizer, text: str, **kw: object) -> np.ndarray:
    chunks = list(synthesizer.synthesize(text, voice=DEFAULT_VOICE, **kw))  # type: ignore[arg-type]
    assert all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    return np.concatenate(chunks)


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def test_lists_the_default_voice(synthesizer: PiperSynthesizer) -> None:
    (info,) = [v for v in synthesizer.voices() if v.name == DEFAULT_VOICE]
    assert (info.sample_rate, info.language, info.quality, info.speakers) == (
        RATE, "en_US", "medium", {},
    )
    assert synthesizer.sample_rate(DEFAULT_VOICE) == RATE


def test_speech_is_audible_and_as_long_as_the_text(synthesizer: PiperSynthesizer) -> None:
    pcm = speak(synthesizer, "Hello there, how are you today?")
    seconds = len(pcm) / RATE
    assert 1.0 < seconds < 4.0
    assert rms(pcm) > 1000  # Piper normalises each sentence to full scale


def test_one_chunk_per_sentence(synthesizer: PiperSynthesizer) -> None:
    chunks = list(synthesizer.synthesize(
        "The kettle is on. Would you like some tea? I made biscuits too.", voice=DEFAULT_VOICE
    ))
    assert len(chunks) == 3
    assert list(synthesizer.synthesize("", voice=DEFAULT_VOICE)) == []


def test_speed_scales_the_duration(synthesizer: PiperSynthesizer) -> None:
    text = "We could walk down to the harbour and watch the boats come in."
    normal = len(speak(synthesizer, text))
    # Not exactly half: Piper's phoneme durations are random and its padding fixed.
    # Measured over 30 takes of each: 0.59-0.70 (mean 0.64, sd 0.016) and 1.64-1.83
    # (mean 1.72, sd 0.034); the bounds are 6-8 sd off the means, far from 1.0 both ways.
    assert 0.4 < len(speak(synthesizer, text, speed=2.0)) / normal < 0.75
    assert 1.45 < len(speak(synthesizer, text, speed=0.5)) / normal < 2.5


def test_speech_transcribes_back_to_its_text(
    synthesizer: PiperSynthesizer, transcriber: Transcriber
) -> None:
    text = "The quick brown fox jumps over the lazy dog near the old stone bridge."
    wav = encode(speak(synthesizer, text), RATE, "wav")
    heard = transcriber.transcribe(decode(wav, max_seconds=30)).text
    said = words(text)
    assert len(set(said) & set(words(heard))) / len(set(said)) >= 0.8, heard


@pytest.mark.parametrize(
    "name", ["en_US-joe", "../voices/en_US-joe-medium", "/etc/passwd", "en_US-joe-medium.onnx",
             "", ".", "..", "en_US-joe-medium/../en_US-joe-medium"],
)
def test_unknown_voice_names_the_installed_ones(synthesizer: PiperSynthesizer, name: str) -> None:
    with pytest.raises(NotFound, match=f"installed voices: {DEFAULT_VOICE}"):
        synthesizer.synthesize("Hi.", voice=name)
    with pytest.raises(NotFound):
        synthesizer.voice(name)


@pytest.mark.parametrize("speed", [0.1, 0.0, -1.0, 4.5])
def test_speed_out_of_range(synthesizer: PiperSynthesizer, speed: float) -> None:
    with pytest.raises(InvalidInput, match="0.25 to 4.0"):
        synthesizer.synthesize("Hi.", voice=DEFAULT_VOICE, speed=speed)


def test_single_speaker_voice_takes_no_speaker(synthesizer: PiperSynthesizer) -> None:
    with pytest.raises(InvalidInput, match="single speaker"):
        synthesizer.synthesize("Hi.", voice=DEFAULT_VOICE, speaker="amy")


def voices_dir_with(tmp_path: Path, name: str, **config: object) -> Path:
    """A voices folder holding the default model under `name`, its config changed."""
    source = json.loads((DEFAULT_VOICES_DIR / f"{DEFAULT_VOICE}.onnx.json").read_text())
    (tmp_path / f"{name}.onnx").symlink_to(DEFAULT_VOICES_DIR / f"{DEFAULT_VOICE}.onnx")
    (tmp_path / f"{name}.onnx.json").write_text(json.dumps({**source, **config}))
    return tmp_path


def test_speakers_by_name_or_id(tmp_path: Path) -> None:
    folder = voices_dir_with(tmp_path, "duo", num_speakers=2, speaker_id_map={"amy": 0, "bob": 1})
    synthesizer = PiperSynthesizer(folder)
    assert synthesizer.voice("duo").speakers == {"amy": 0, "bob": 1}
    for speaker in ("bob", 1, "1"):
        synthesizer.synthesize("Hi.", voice="duo", speaker=speaker)  # checked, not spoken
    for speaker in ("carol", 2, "7", True):
        with pytest.raises(InvalidInput, match="amy, bob"):
            synthesizer.synthesize("Hi.", voice="duo", speaker=speaker)  # type: ignore[arg-type]


def test_broken_and_incomplete_voices_are_not_listed(tmp_path: Path) -> None:
    folder = voices_dir_with(tmp_path, "good")
    (folder / "broken.onnx").write_bytes(b"x")
    (folder / "broken.onnx.json").write_text("{not json")
    (folder / "lonely.onnx").write_bytes(b"x")  # no config beside it
    assert [v.name for v in PiperSynthesizer(folder).voices()] == ["good"]
    assert PiperSynthesizer(tmp_path / "missing").voices() == []


def test_threads_share_a_voice(synthesizer: PiperSynthesizer) -> None:
    results: list[np.ndarray] = []
    texts = ["One sentence from the first thread.", "Another from the second one."]
    threads = [threading.Thread(target=lambda t=t: results.append(speak(synthesizer, t)))
               for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and all(rms(r) > 1000 for r in results)


def test_sentences_of_new_lengths_do_not_grow_memory(synthesizer: PiperSynthesizer) -> None:
    """onnxruntime kept a memory plan for every input shape it met (~50 KB for these
    sentences: +1.2 MB over the 23 here); a lean session keeps none."""
    said = "apple river kettle music garden window friend".split()

    def sentence(n: int) -> str:
        return " ".join(said[i % len(said)] for i in range(n)) + "."

    for n in range(3, 50, 2):
        speak(synthesizer, sentence(n))
    before = live_heap_bytes()
    for n in range(4, 50, 2):  # lengths between those already spoken
        speak(synthesizer, sentence(n))
    grown = live_heap_bytes() - before
    assert grown < 0.4 * 2**20, f"{grown / 2**20:.2f} MiB more for 23 new lengths"
