"""A character's voice in its card (`extensions.hearth.voice`): read, checked, carried along."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hearth.characters import (
    VoiceChoice,
    card_to_png,
    normalise_data,
    parse_card,
    to_v2,
    to_v3,
    voice_of,
)
from hearth.config import DEFAULT_VOICE
from hearth.errors import InvalidInput
from tests.utils.cards import as_json
from tests.utils.live import ThreadServer


def card(voice: object, **extensions: object) -> dict:
    return {"name": "Ava", "extensions": {"hearth": {"voice": voice}, **extensions}}


@pytest.mark.parametrize(
    "data, choice",
    [
        ({"name": "Ava"}, VoiceChoice("joe")),
        ({"name": "Ava", "extensions": {"hearth": {}}}, VoiceChoice("joe")),
        (card(None), VoiceChoice("joe")),
        (card({}), VoiceChoice("joe")),
        (card({"name": "amy", "speaker": "p3", "speed": 1.25}), VoiceChoice("amy", "p3", 1.25)),
        (card({"speaker": 4, "speed": 2}), VoiceChoice("joe", 4, 2.0)),
        (card({"name": None, "speaker": None, "speed": None}), VoiceChoice("joe")),
    ],
)
def test_voice_of(data: dict, choice: VoiceChoice) -> None:
    assert voice_of(normalise_data(data), default="joe") == choice


@pytest.mark.parametrize(
    "extensions, words",
    [
        ({"hearth": "x"}, ("'extensions.hearth'", "object")),
        ({"hearth": {"voice": "joe"}}, ("'extensions.hearth.voice'", "object")),
        ({"hearth": {"voice": {"name": 3}}}, ("'extensions.hearth.voice.name'", "GET /api/voices")),
        ({"hearth": {"voice": {"name": " "}}}, ("'extensions.hearth.voice.name'",)),
        ({"hearth": {"voice": {"speaker": 1.5}}}, ("'extensions.hearth.voice.speaker'",)),
        ({"hearth": {"voice": {"speaker": True}}}, ("'extensions.hearth.voice.speaker'",)),
        ({"hearth": {"voice": {"speed": "fast"}}}, ("'extensions.hearth.voice.speed'", "0.25")),
        ({"hearth": {"voice": {"speed": 0}}}, ("'extensions.hearth.voice.speed'", "4.0")),
        ({"hearth": {"voice": {"speed": 4.5}}}, ("'extensions.hearth.voice.speed'",)),
    ],
)
def test_bad_voice_blocks(extensions: dict, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as e:
        normalise_data({"name": "Ava", "extensions": extensions})
    for word in words:
        assert word in e.value.message
    with pytest.raises(InvalidInput):  # the same check on import
        parse_card(as_json(to_v3({"name": "Ava", "extensions": extensions})))


def test_voice_travels_with_the_card_json_and_png() -> None:
    data = normalise_data(card({"name": "amy", "speaker": "p3", "speed": 0.9, "future": 1}, x=1))
    for raw in (as_json(to_v3(data)), as_json(to_v2(data)), card_to_png(data, None)):
        again = parse_card(raw).data
        assert again["extensions"] == data["extensions"]
        assert voice_of(again, default="joe") == VoiceChoice("amy", "p3", 0.9)


def test_a_card_in_korean_speaks_through_the_korean_voice(server: ThreadServer) -> None:
    """No Piper voice speaks Korean: a card that says `language: ko` (or a person whose
    profile does) gets eSpeak NG's; a voice the card names still wins."""
    from hearth.voice.session import character_voice

    services = server.services  # type: ignore[attr-defined]
    person = services.user
    korean_card = normalise_data({"name": "나래", "extensions": {"hearth": {"language": "ko-kr"}}})
    assert korean_card["extensions"]["hearth"]["language"] == "ko-KR"
    assert character_voice(services, korean_card, person).name == "espeak-ko"
    plain = normalise_data({"name": "Ann"})
    assert character_voice(services, plain, person).name == DEFAULT_VOICE
    assert character_voice(services, plain, replace(person, language="ko")).name == "espeak-ko"
    named = normalise_data({"name": "Ann", "extensions": {"hearth": {
        "language": "ko", "voice": {"name": DEFAULT_VOICE}}}})
    assert character_voice(services, named, person).name == DEFAULT_VOICE
    speaker = services.speaker()
    (pcm,) = speaker.synthesize("안녕하세요.", voice="espeak-ko")
    assert speaker.sample_rate("espeak-ko") == 22_050 and np.abs(pcm).max() > 1000


def test_a_card_language_that_is_not_a_language_is_refused() -> None:
    with pytest.raises(InvalidInput, match="'extensions.hearth.language': 'elvish'"):
        normalise_data({"name": "Ann", "extensions": {"hearth": {"language": "elvish"}}})
