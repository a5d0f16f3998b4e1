"""Character cards: read and write Character Card V1, V2 and V3 (JSON or PNG).

Everything is normalised to a V3 `data` object. Unknown keys (in `data` and in
`extensions`) and the lorebook are kept verbatim, so a card exports back
without loss. A PNG card carries its JSON as base64 in a `chara` (V2) and/or
`ccv3` (V3) text chunk; everything here is done with the stdlib alone.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from hearth.engines.tts import MAX_SPEED, MIN_SPEED
from hearth.errors import InvalidInput, TooLarge

MAX_CARD_BYTES_DEFAULT = 8 * 1024 * 1024
# Real cards nest a few levels deep; a bound keeps copying and storing them off the
# recursion limit (a small file can hold [[[[...]]]] a million levels deep).
MAX_DEPTH = 100

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CARD_KEYWORDS = ("ccv3", "chara")  # order = preference when reading
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")

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


def parse_card(raw: bytes, *, max_bytes: int = MAX_CARD_BYTES_DEFAULT) -> ParsedCard:
    """Read a card from PNG or JSON bytes (detected by content, not file name)."""
    if not raw.strip():
        raise InvalidInput("the card file is empty; choose a character card PNG or JSON file")
    _check_size(raw, max_bytes, "card file", "Use a smaller image or import the card's JSON instead.")
    if is_png(raw):
        chunks = _read_chunks(raw)
        found = _find_card_text(chunks, max_bytes)
        if found is None:
            raise InvalidInput(
                "this PNG has no character card inside (no 'chara' or 'ccv3' text chunk); "
                "it is a plain image - import the card PNG as downloaded, or its JSON"
            )
        keyword, value = found
        where = f"the PNG's '{keyword}' chunk"
        card = _load_json(_b64decode(value, keyword), where, f"{where} does not hold a JSON card")
        return ParsedCard(_card_data(card), _build_png(_without_card_chunks(chunks)))
    not_json = "the file is neither a PNG image nor JSON; import a character card .png or .json file"
    return ParsedCard(_card_data(_load_json(raw, "the card file", not_json)), None)


def normalise_data(data: dict) -> dict:
    """Validate a card's `data` object and fill defaults; returns a new dict.

    Known fields come first in spec order; unknown keys follow, kept verbatim.
    A null string or list field counts as absent (many real cards have them).
    """
    if not isinstance(data, dict):
        raise InvalidInput(f"card data must be a JSON object, not {_json_type(data)}")
    if _too_deep(data, MAX_DEPTH):
        raise InvalidInput(
            f"the card nests objects and lists more than {MAX_DEPTH} levels deep; "
            "this is not a card Hearth can store - re-export it from where it came from"
        )
    out: dict[str, Any] = {}
    for key in _STR_FIELDS:
        value = data.get(key)
        if key == "character_version" and _is_number(value):
            value = str(value)  # cards in the wild often write 1.0 rather than "1.0"
        out[key] = "" if value is None else _expect(value, str, key)
    if not out["name"].strip():
        raise InvalidInput("the card has no name; set 'name' to a non-empty string")
    for key in _STR_LIST_FIELDS:
        out[key] = _str_list(data.get(key), key)
    extensions = data.get("extensions")
    out["extensions"] = {} if extensions is None else copy.deepcopy(_expect(extensions, dict, "extensions"))
    book = data.get("character_book")
    out["character_book"] = None if book is None else copy.deepcopy(_expect(book, dict, "character_book"))

    # Optional V3 fields: checked when present (and not null), kept as given.
    _optional(data, "nickname", str)
    _optional(data, "creator_notes_multilingual", dict)
    if data.get("source") is not None:
        _str_list(data["source"], "source")
    if data.get("assets") is not None:
        for asset in _expect(data["assets"], list, "assets"):
            _expect(asset, dict, "assets[]")
    for key in ("creation_date", "modification_date"):
        if data.get(key) is not None and not _is_number(data[key]):
            raise InvalidInput(f"'{key}' must be a number (Unix seconds), not {_json_type(data[key])}")

    _check_voice(out["extensions"])

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
    chunks = _without_card_chunks(_read_chunks(image))
    card_chunks = [
        (b"tEXt", b"chara\0" + _b64json(to_v2(data))),
        (b"tEXt", b"ccv3\0" + _b64json(to_v3(data))),
    ]
    return _build_png(chunks[:-1] + card_chunks + chunks[-1:])  # before IEND


def placeholder_avatar(name: str) -> bytes:
    """A 256x256 PNG in one soft colour derived from the name."""
    seed = zlib.crc32(name.encode("utf-8"))
    # Each channel in 150..239: pastel, never too dark or pure white.
    rgb = bytes(150 + (seed >> shift & 0xFF) % 90 for shift in (0, 8, 16))
    size = 256
    rows = (b"\0" + rgb * size) * size  # filter byte 0 ("None") per row
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return _build_png([(b"IHDR", header), (b"IDAT", zlib.compress(rows, 9)), (b"IEND", b"")])


def is_png(raw: bytes) -> bool:
    return raw[:8] == PNG_SIGNATURE


def check_image(raw: bytes, *, max_bytes: int) -> None:
    """Accept an avatar upload only if it is a structurally valid PNG within the limit."""
    if not raw:
        raise InvalidInput("the image is empty; choose a PNG file")
    _check_size(raw, max_bytes, "image", "Use a smaller PNG.")
    if not is_png(raw):
        raise InvalidInput("the avatar must be a PNG image; convert it to PNG and upload again")
    _read_chunks(raw)


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
    _expect(hearth, dict, "extensions.hearth")
    block = hearth.get("voice")
    if block is None:
        return
    _expect(block, dict, "extensions.hearth.voice")
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
    if speed is not None and not (_is_number(speed) and MIN_SPEED <= speed <= MAX_SPEED):
        raise InvalidInput(
            f"'extensions.hearth.voice.speed' must be a number from {MIN_SPEED} to {MAX_SPEED} "
            f"(1.0: the voice's natural pace), not {json.dumps(speed)}"
        )


# --- card JSON ----------------------------------------------------------------


def _card_data(card: Any) -> dict:
    if not isinstance(card, dict):
        raise InvalidInput(f"a character card must be a JSON object, not {_json_type(card)}")
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


def _load_json(blob: bytes, where: str, not_json: str) -> Any:
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(not_json) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip()[:1] not in ("{", "["):
            raise InvalidInput(not_json) from None
        raise InvalidInput(
            f"{where} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
            "re-export the card from where it came from"
        ) from None
    except (ValueError, RecursionError):  # a number thousands of digits long; nesting too deep
        raise InvalidInput(
            f"{where} holds JSON too deeply nested or with a number too long to read; "
            "it is not a character card - re-export the card from where it came from"
        ) from None


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


def _expect(value: Any, kind: type, key: str) -> Any:
    if not isinstance(value, kind):
        want = {str: "a string", list: "a list", dict: "an object"}[kind]
        raise InvalidInput(f"'{key}' must be {want}, not {_json_type(value)}; fix that field in the card")
    return value


def _str_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    items = _expect(value, list, key)
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(
                f"'{key}' must be a list of strings, but holds {_json_type(item)}; fix that field in the card"
            )
    return list(items)


def _optional(data: dict, key: str, kind: type) -> None:
    if data.get(key) is not None:
        _expect(data[key], kind, key)


def _too_deep(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _check_size(raw: bytes, max_bytes: int, what: str, hint: str) -> None:
    if len(raw) > max_bytes:
        raise TooLarge(f"the {what} is {_size(len(raw))}, over the limit of {_size(max_bytes)}. {hint}")


def _size(n: int) -> str:
    if n < 1024 * 1024:
        return f"{n} bytes"
    return f"{round(n / (1024 * 1024), 2):g} MiB ({n} bytes)"


# --- PNG chunks ---------------------------------------------------------------

Chunk = tuple[bytes, bytes]  # (type, body)


def _bad_png(reason: str) -> InvalidInput:
    return InvalidInput(
        f"not a valid PNG: {reason}. Re-save the image with an image editor, "
        "or import the card's JSON instead"
    )


def _read_chunks(raw: bytes) -> list[Chunk]:
    """Walk and verify every chunk up to IEND (lengths, types, CRCs, IHDR first).

    Bytes after IEND are ignored (some tools append junk there).
    """
    if not is_png(raw):
        raise _bad_png("the PNG signature is missing")
    chunks: list[Chunk] = []
    pos = len(PNG_SIGNATURE)
    while not chunks or chunks[-1][0] != b"IEND":
        if pos + 12 > len(raw):
            raise _bad_png("the file ends before the IEND chunk (it is truncated)")
        length, ctype = struct.unpack(">I4s", raw[pos:pos + 8])
        if not ctype.isalpha():
            raise _bad_png(f"garbled chunk header at byte {pos}")
        end = pos + 12 + length
        if end > len(raw):
            raise _bad_png(f"the {ctype.decode()} chunk at byte {pos} is cut off (the file is truncated)")
        body = raw[pos + 8:end - 4]
        if zlib.crc32(ctype + body) != struct.unpack(">I", raw[end - 4:end])[0]:
            raise _bad_png(f"the {ctype.decode()} chunk at byte {pos} has a bad checksum (the file is damaged)")
        chunks.append((ctype, body))
        pos = end
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise _bad_png("it does not start with an IHDR header chunk")
    if not any(ctype == b"IDAT" for ctype, _ in chunks):
        raise _bad_png("it has no image data (IDAT chunk)")
    return chunks


def _build_png(chunks: list[Chunk]) -> bytes:
    out = [PNG_SIGNATURE]
    for ctype, body in chunks:
        out.append(struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body)))
    return b"".join(out)


def _text_keyword(ctype: bytes, body: bytes) -> str | None:
    if ctype not in _TEXT_CHUNKS:
        return None
    keyword, sep, _ = body.partition(b"\0")
    return keyword.decode("latin-1").lower() if sep else None


def _without_card_chunks(chunks: list[Chunk]) -> list[Chunk]:
    return [c for c in chunks if _text_keyword(*c) not in _CARD_KEYWORDS]


def _find_card_text(chunks: list[Chunk], max_bytes: int) -> tuple[str, bytes] | None:
    """Return (keyword, raw text) of the preferred card chunk: ccv3, else chara."""
    found: dict[str, Chunk] = {}
    for ctype, body in chunks:
        keyword = _text_keyword(ctype, body)
        if keyword in _CARD_KEYWORDS:
            found.setdefault(keyword, (ctype, body))
    for keyword in _CARD_KEYWORDS:
        if keyword in found:
            return keyword, _text_value(*found[keyword], keyword, max_bytes)
    return None


def _text_value(ctype: bytes, body: bytes, keyword: str, max_bytes: int) -> bytes:
    """The text of a tEXt, zTXt or iTXt chunk (layouts per the PNG spec)."""
    rest = body.partition(b"\0")[2]
    if ctype == b"tEXt":
        return rest
    if ctype == b"zTXt":  # method byte, then zlib data
        return _inflate(rest[1:], keyword, max_bytes)
    # iTXt: compression flag, method, language\0, translated keyword\0, text
    if len(rest) < 2:
        raise _bad_png(f"the '{keyword}' iTXt chunk is malformed")
    compressed = rest[0] == 1
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        raise _bad_png(f"the '{keyword}' iTXt chunk is malformed")
    return _inflate(parts[2], keyword, max_bytes) if compressed else parts[2]


def _inflate(blob: bytes, keyword: str, max_bytes: int) -> bytes:
    # Bounded, so a small compressed chunk cannot expand into gigabytes.
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(blob, max_bytes + 1)
    except zlib.error:
        raise _bad_png(f"the '{keyword}' chunk's compressed text is damaged") from None
    if len(out) > max_bytes:
        raise TooLarge(
            f"the '{keyword}' chunk expands to more than {_size(max_bytes)}; "
            "this card is too large to import"
        )
    if not inflater.eof:
        raise _bad_png(f"the '{keyword}' chunk's compressed text is truncated")
    return out
