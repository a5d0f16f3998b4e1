"""A character's voice in its card (`extensions.hearth.voice`): read, checked, carried along."""

from __future__ import annotations

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
from hearth.errors import InvalidInput
from tests.utils.cards import as_json


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
