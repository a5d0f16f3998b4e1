"""Speech to text with the real faster-whisper tiny.en model on Piper speech."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from hearth.config import load_settings
from hearth.engines.stt import Segment, Transcriber, _segments, _split, load_transcriber
from hearth.errors import InvalidInput
from tests.utils.heap import live_heap_bytes
from tests.utils.speech import RATE, SpeechMaker, silence, word_error_rate

PHRASES = [
    "Please turn on the kitchen lights.",
    "The quick brown fox jumps over the lazy dog.",
    "Remind me to call my sister on Sunday.",
]

@pytest.mark.parametrize("text", PHRASES)
def test_a_phrase_transcribes_back_to_its_words(
    transcriber: Transcriber, speech: SpeechMaker, text: str
) -> None:
    spoken = speech(text)
    transcript = transcriber.transcribe(spoken.audio)
    assert word_error_rate(text, transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en"
    assert transcript.duration == pytest.approx(len(spoken.audio) / RATE)
    assert transcript.segments and all(isinstance(s, Segment) for s in transcript.segments)
    assert " ".join(s.text for s in transcript.segments) == transcript.text
    first, last = transcript.segments[0], transcript.segments[-1]
    assert 0.0 <= first.start < last.end <= transcript.duration + 0.05

def test_silence_and_empty_audio_give_no_text(transcriber: Transcriber) -> None:
    assert transcriber.transcribe(silence(2.0)).text == ""
    empty = transcriber.transcribe(np.zeros(0, np.float32))
    assert (empty.text, empty.duration, empty.segments) == ("", 0.0, [])

def test_an_english_only_model_refuses_another_language(
    transcriber: Transcriber, speech: SpeechMaker
) -> None:
    """Told German, tiny.en would hear English words: a 4xx saying what to install, not a
    silent guess. English given as a BCP-47 tag is still English."""
    assert transcriber.english_only and transcriber.languages == ["en"]
    spoken = speech(PHRASES[0])
    with pytest.raises(InvalidInput, match="language: whisper-tiny.en only knows English"):
        transcriber.transcribe(spoken.audio, language="de")
    transcript = transcriber.transcribe(spoken.audio, language="en-GB", prompt="Kitchen, lights.")
    assert transcript.language == "en"
    assert word_error_rate(PHRASES[0], transcript.text) <= 0.2, transcript.text

def test_concurrent_callers_each_get_their_own_text(
    transcriber: Transcriber, speech: SpeechMaker
) -> None:
    clips = [speech(text).audio for text in PHRASES[:2]]
    with ThreadPoolExecutor(2) as pool:
        texts = [t.text for t in pool.map(transcriber.transcribe, clips)]
    for expected, heard in zip(PHRASES[:2], texts, strict=True):
        assert word_error_rate(expected, heard) <= 0.2, heard

def test_a_timestamp_past_the_audio_does_not_drop_the_words_after_it(
    transcriber: Transcriber,
) -> None:
    """What tiny.en once made of "The kettle is on, come and have some tea." (2.5 s, spoken
    by Piper): a timestamp at 7 s after two words. The rest is speech, not a made-up
    segment past the end; a segment that starts in the silence after the speech still is."""
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(transcriber._model.hf_tokenizer, False, task="transcribe",
                          language="en")

    def at(seconds: float) -> int:
        return int(tokenizer.timestamp_begin + round(seconds / 0.02))

    slipped = [at(0.0), *tokenizer.encode(" The k"), at(7.0), at(7.0),
               *tokenizer.encode(" is on, come and have some tea.")]
    (segment,) = _segments(slipped, tokenizer, 2.46)
    assert segment == Segment(0.0, 2.46, "The k is on, come and have some tea.")

    made_up = [at(0.0), *tokenizer.encode(" Hello there."), at(1.8), at(2.4),
               *tokenizer.encode(" Thank you."), at(3.0)]
    assert _segments(made_up, tokenizer, 2.46) == [Segment(0.0, 1.8, "Hello there.")]


def test_the_last_kept_token_is_found_past_a_restart(transcriber: Transcriber) -> None:
    """`last_p` is the probability of the token that ends the kept text: the question
    mark, not the last of the words the model went on with."""
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(transcriber._model.hf_tokenizer, False, task="transcribe",
                          language="en")
    start = tokenizer.timestamp_begin
    tokens = [start, *tokenizer.encode(" Do you like cats? Do you like"), start + 100]
    segments, last = _split(tokens, tokenizer, 2.5)
    assert [s.text for s in segments] == ["Do you like cats?"]
    assert last is not None and tokenizer.decode([tokens[last]]) == "?"
    whole = [start, *tokenizer.encode(" Hello there.")]
    assert _split(whole, tokenizer, 2.5)[1] == len(whole) - 1


def test_whisper_is_sure_of_a_finished_sentence_s_mark_and_not_of_a_cut_one(
    transcriber: Transcriber, speech: SpeechMaker
) -> None:
    """The probability of the last token tells a sentence said to its end from one that
    stops mid-way, even where Whisper gives both a full stop."""
    done = transcriber.transcribe(speech("What time is it in Tokyo right now?").audio)
    assert done.text.endswith("?") and done.last_p is not None and done.last_p > 0.8
    cut = transcriber.transcribe(speech("I keep forgetting where I put my").audio)
    assert cut.last_p is not None
    assert cut.last_p < 0.5 or not cut.text.endswith((".", "?", "!")), (cut.text, cut.last_p)


def test_the_configured_model_loads_from_settings(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, voice={"stt_device": "cpu"})
    loaded = load_transcriber(settings.voice)
    assert loaded.main.device == "cpu" and loaded.name == "whisper-tiny.en"

def test_a_missing_model_folder_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="install_models"):
        Transcriber(tmp_path / "no-such-model")

def test_utterances_of_new_lengths_do_not_grow_memory(
    transcriber: Transcriber, speech: SpeechMaker
) -> None:
    """CTranslate2's oneDNN keeps what it prepares for each input length (~0.3 MB).
    Lengths to the sample grew a server's memory with every utterance (+5 MB over
    these 16 here); lengths in buckets meet only a few."""
    clip = speech(PHRASES[1]).audio
    # Cuts 40 ms apart: each a new length to the sample; the odd ones between the even.
    cuts = [clip[: len(clip) - 640 * k] for k in range(32)]
    for audio in cuts[::2]:
        transcriber.transcribe(audio)
    before = live_heap_bytes()
    texts = [transcriber.transcribe(audio).text for audio in cuts[1::2]]
    grown = live_heap_bytes() - before
    assert grown < 1.5 * 2**20, f"{grown / 2**20:.1f} MiB more for 16 new lengths"
    # The longest cut loses only the final silence: still the whole phrase.
    assert word_error_rate(PHRASES[1], texts[0]) <= 0.2, texts[0]
