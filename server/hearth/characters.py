"""Character cards: read and write Character Card V1, V2 and V3 (JSON or PNG).

Everything is normalised to a V3 `data` object. Unknown keys (in `data` and in
`extensions`) and the lorebook are kept verbatim, so a card exports back
without loss. A PNG card carries its JSON as base64 in a `chara` (V2) and/or
`ccv3` (V3) text chunk (read and written by `hearth.png_text`); stdlib only.
Field checks and JSON loading live in `hearth.card_checks`.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any

from hearth.card_checks import (
    check_size,
    expect,
    expect_optional,
    is_number,
    json_type,
    load_json,
    str_list,
    too_deep,
)
from hearth.engines.tts import MAX_SPEED, MIN_SPEED
from hearth.errors import InvalidInput, TooLarge
from hearth.relationship.profile import check_language
from hearth.png_text import (
    Chunk,
    build_png,
    find_text,
    image_only,
    image_size,
    is_png,
    read_chunks,
    without_text,
)

__all__ = [
    "MAX_CARD_BYTES_DEFAULT", "MAX_DEPTH", "V3_ONLY_KEYS", "ParsedCard", "VoiceChoice",
    "card_to_png", "check_image", "is_png", "normalise_data", "parse_card", "placeholder_avatar",
    "language_of", "substitute", "to_v2", "to_v3", "voice_of",
]

MAX_CARD_BYTES_DEFAULT = 8 * 1024 * 1024
MAX_IMAGE_BYTES_DEFAULT = 4 * 1024 * 1024
MAX_IMAGE_SIDE_DEFAULT = 4096
# Real cards nest a few levels deep; a bound keeps copying and storing them off the
# recursion limit (a small file can hold [[[[...]]]] a million levels deep).
MAX_DEPTH = 100

_CARD_KEYWORDS = ("ccv3", "chara")  # PNG text chunk keywords; order = preference when reading

_STR_FIELDS = (
    "name", "description", "personality", "scenario", "first_mes", "mes_example",
    "creator_notes", "system_prompt", "post_history_instructions", "creator",
    "character_version",
)
_STR_LIST_FIELDS = ("alternate_greetings", "tags", "group_only_greetings")
V3_ONLY_KEYS = (
    "nickname", "group_only_greetings", "assets", "creator_notes_multilingual",
    "source", "creation_date", "modification_date",
)


@dataclass
class ParsedCard:
    data: dict  # normalised V3 `data` object
    avatar: bytes | None  # the card's PNG (its card chunks removed), or None for JSON


@dataclass(frozen=True)
class VoiceChoice:
    """How a character speaks: kept in the card as `extensions.hearth.voice`."""

    name: str  # a Piper voice in the voices folder
    speaker: str | int | None = None  # multi-speaker voices only; None: the voice's default
    speed: float = 1.0  # 2.0: twice as fast


# --- public API ---------------------------------------------------------------


def parse_card(raw: bytes, *, max_bytes: int = MAX_CARD_BYTES_DEFAULT,
               max_image_bytes: int = MAX_IMAGE_BYTES_DEFAULT,
               max_image_side: int = MAX_IMAGE_SIDE_DEFAULT) -> ParsedCard:
    """Read a card from PNG or JSON bytes (detected by content, not file name).

    A PNG's image becomes the avatar, checked as an uploaded one is and kept without
    the card's text or any other chunk a browser does not need to draw it.
    """
    if not raw.strip():
        raise InvalidInput("the card file is empty; choose a character card PNG or JSON file")
    hint = "Use a smaller image or import the card's JSON instead."
    check_size(raw, max_bytes, "card file", hint)
    if is_png(raw):
        chunks = read_chunks(raw)
        _check_image_size(chunks, max_image_side, "the card's picture")
        found = find_text(chunks, _CARD_KEYWORDS, max_bytes)
        if found is None:
            raise InvalidInput(
                "this PNG has no character card inside (no 'chara' or 'ccv3' text chunk); "
                "it is a plain image - import the card PNG as downloaded, or its JSON"
            )
        keyword, value = found
        where = f"the PNG's '{keyword}' chunk"
        card = load_json(_b64decode(value, keyword), where, f"{where} does not hold a JSON card")
        avatar = build_png(image_only(chunks))
        check_size(avatar, max_image_bytes, "card's picture (without its text)",
                   "Import the card's JSON and give it a smaller picture (limits.max_image_bytes).")
        return ParsedCard(_card_data(card), avatar)
    not_json = (
        "the file is neither a PNG image nor JSON; import a character card .png or .json file"
    )
    return ParsedCard(_card_data(load_json(raw, "the card file", not_json)), None)


def normalise_data(data: dict) -> dict:
    """Validate a card's `data` object and fill defaults; returns a new dict.

    Known fields come first in spec order; unknown keys follow, kept verbatim.
    A null string or list field counts as absent (many real cards have them).
    """
    if not isinstance(data, dict):
        raise InvalidInput(f"card data must be a JSON object, not {json_type(data)}")
    if too_deep(data, MAX_DEPTH):
        raise InvalidInput(
            f"the card nests objects and lists more than {MAX_DEPTH} levels deep; "
            "this is not a card Hearth can store - re-export it from where it came from"
        )
    out: dict[str, Any] = {}
    for key in _STR_FIELDS:
        value = data.get(key)
        if key == "character_version" and is_number(value):
            value = str(value)  # cards in the wild often write 1.0 rather than "1.0"
        out[key] = "" if value is None else expect(value, str, key)
    if not out["name"].strip():
        raise InvalidInput("the card has no name; set 'name' to a non-empty string")
    # One spelling of each name (NFC): "나래" typed on one device finds it saved on another.
    out["name"] = unicodedata.normalize("NFC", out["name"])
    for key in _STR_LIST_FIELDS:
        out[key] = str_list(data.get(key), key)
    extensions = data.get("extensions")
    out["extensions"] = {} if extensions is None else copy.deepcopy(
        expect(extensions, dict, "extensions")
    )
    book = data.get("character_book")
    out["character_book"] = None if book is None else copy.deepcopy(
        expect(book, dict, "character_book")
    )

    # Optional V3 fields: checked when present (and not null), kept as given.
    expect_optional(data, "nickname", str)
    expect_optional(data, "creator_notes_multilingual", dict)
    if data.get("source") is not None:
        str_list(data["source"], "source")
    if data.get("assets") is not None:
        for asset in expect(data["assets"], list, "assets"):
            expect(asset, dict, "assets[]")
    for key in ("creation_date", "modification_date"):
        if data.get(key) is not None and not is_number(data[key]):
            raise InvalidInput(
                f"'{key}' must be a number (Unix seconds), not {json_type(data[key])}"
            )

    _check_voice(out["extensions"])
    _check_language(out["extensions"])

    for key, value in data.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
    return out


def voice_of(data: dict, *, default: str) -> VoiceChoice:
    """The character's voice from its card (checked by `normalise_data`); `default` names none."""
    block = _voice_block(data.get("extensions") or {}) or {}
    speed = block.get("speed")
    return VoiceChoice(
        name=block.get("name") or default,
        speaker=block.get("speaker"),
        speed=1.0 if speed is None else float(speed),
    )


def language_of(data: dict) -> str:
    """The language the character speaks (`extensions.hearth.language`, BCP-47); '' if the
    card names none, when the person's language is used."""
    hearth = (data.get("extensions") or {}).get("hearth")
    return (hearth.get("language") or "") if isinstance(hearth, dict) else ""


def to_v3(data: dict) -> dict:
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


def to_v2(data: dict) -> dict:
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {k: v for k, v in data.items() if k not in V3_ONLY_KEYS},
    }


def card_to_png(data: dict, avatar: bytes | None) -> bytes:
    """Embed the card (as `chara` V2 and `ccv3` V3 chunks) in the avatar PNG."""
    data = normalise_data(data)
    image = avatar if avatar is not None else placeholder_avatar(data["name"])
    chunks = without_text(read_chunks(image), _CARD_KEYWORDS)
    card_chunks = [
        (b"tEXt", b"chara\0" + _b64json(to_v2(data))),
        (b"tEXt", b"ccv3\0" + _b64json(to_v3(data))),
    ]
    return build_png(chunks[:-1] + card_chunks + chunks[-1:])  # before IEND


def placeholder_avatar(name: str) -> bytes:
    """A 256x256 PNG in one soft colour derived from the name."""
    seed = zlib.crc32(name.encode("utf-8"))
    # Each channel in 150..239: pastel, never too dark or pure white.
    rgb = bytes(150 + (seed >> shift & 0xFF) % 90 for shift in (0, 8, 16))
    size = 256
    rows = (b"\0" + rgb * size) * size  # filter byte 0 ("None") per row
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return build_png([(b"IHDR", header), (b"IDAT", zlib.compress(rows, 9)), (b"IEND", b"")])


def check_image(raw: bytes, *, max_bytes: int, max_side: int = MAX_IMAGE_SIDE_DEFAULT) -> bytes:
    """An avatar upload as stored: a structurally valid PNG within the limits, its width
    and height read from the header before anything decodes it (a small file can hold a
    20000x20000 image that takes a browser down), kept without text or other extras."""
    if not raw:
        raise InvalidInput("the image is empty; choose a PNG file")
    check_size(raw, max_bytes, "image", "Use a smaller PNG.")
    if not is_png(raw):
        raise InvalidInput("the avatar must be a PNG image; convert it to PNG and upload again")
    chunks = read_chunks(raw)
    _check_image_size(chunks, max_side, "the image")
    return build_png(image_only(chunks))


def _check_image_size(chunks: list[Chunk], max_side: int, what: str) -> None:
    width, height = image_size(chunks)
    if max(width, height) > max_side:
        raise TooLarge(
            f"{what} is {width}x{height} pixels; avatars are at most {max_side} pixels wide and "
            f"high (limits.max_image_side). Scale it down and try again"
        )


_MACRO = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)


def substitute(text: str, *, char: str, user: str) -> str:
    """Replace {{char}}/{{user}} (any case, inner spaces ok) and legacy <BOT>/<USER>."""
    # One pass with a function, so names containing macros or backslashes stay literal.
    def repl(m: re.Match[str]) -> str:
        which = (m.group(1) or m.group(2)).lower()
        return user if which == "user" else char

    return _MACRO.sub(repl, text)


# --- the character's voice ----------------------------------------------------


def _voice_block(extensions: dict) -> dict | None:
    hearth = extensions.get("hearth")
    return None if not isinstance(hearth, dict) else hearth.get("voice")


def _check_voice(extensions: dict) -> None:
    """`extensions.hearth.voice` is `{name, speaker, speed}`, each optional or null."""
    hearth = extensions.get("hearth")
    if hearth is None:
        return
    expect(hearth, dict, "extensions.hearth")
    block = hearth.get("voice")
    if block is None:
        return
    expect(block, dict, "extensions.hearth.voice")
    name, speaker, speed = block.get("name"), block.get("speaker"), block.get("speed")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidInput(
            "'extensions.hearth.voice.name' must be a voice name such as 'en_US-joe-medium' "
            f"(see GET /api/voices), not {json.dumps(name)}"
        )
    if speaker is not None and (
        isinstance(speaker, bool) or not isinstance(speaker, (str, int)) or speaker == ""
    ):
        raise InvalidInput(
            "'extensions.hearth.voice.speaker' must be a speaker name or a whole-number id, "
            f"not {json.dumps(speaker)}"
        )
    if speed is not None and not (is_number(speed) and MIN_SPEED <= speed <= MAX_SPEED):
        raise InvalidInput(
            f"'extensions.hearth.voice.speed' must be a number from {MIN_SPEED} to {MAX_SPEED} "
            f"(1.0: the voice's natural pace), not {json.dumps(speed)}"
        )


def _check_language(extensions: dict) -> None:
    """`extensions.hearth.language` is a BCP-47 tag ('ko', 'ko-KR'), kept in its usual case."""
    hearth = extensions.get("hearth")
    if not isinstance(hearth, dict) or hearth.get("language") is None:
        return
    tag = hearth["language"]
    try:
        if not isinstance(tag, str):
            raise InvalidInput(f"language: {json.dumps(tag)} is not a language tag")
        hearth["language"] = check_language(tag)
    except InvalidInput as e:
        reason = e.message.removeprefix("language: ")
        raise InvalidInput(f"'extensions.hearth.language': {reason}") from None


# --- card JSON ----------------------------------------------------------------


def _card_data(card: Any) -> dict:
    if not isinstance(card, dict):
        raise InvalidInput(f"a character card must be a JSON object, not {json_type(card)}")
    spec = card.get("spec")
    if spec is None:  # V1: flat fields at top level, lifted as the data object
        return normalise_data(card)
    if spec not in ("chara_card_v2", "chara_card_v3"):
        raise InvalidInput(
            f"unknown card spec {spec!r}; Hearth reads 'chara_card_v2' and 'chara_card_v3' "
            "cards (and V1 cards without 'spec')"
        )
    data = card.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(f"this {spec} card has no 'data' object; the card file is incomplete")
    return normalise_data(data)


def _b64json(card: dict) -> bytes:
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8"))


def _b64decode(value: bytes, keyword: str) -> bytes:
    compact = re.sub(rb"\s+", b"", value)
    compact += b"=" * (-len(compact) % 4)  # some writers drop the padding
    try:
        return base64.b64decode(compact, validate=True)
    except ValueError:
        raise InvalidInput(
            f"the PNG's '{keyword}' chunk is not valid base64, so the card cannot be read; "
            "re-export the card PNG, or import its JSON"
        ) from None
