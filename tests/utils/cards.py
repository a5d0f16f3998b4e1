"""Card fixtures shared by tests: tiny PNGs, text chunks, rich V2/V3 cards."""

from __future__ import annotations

import base64
import json
import struct
import zlib

SIG = b"\x89PNG\r\n\x1a\n"


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def tiny_png(*extra: bytes) -> bytes:
    """A 1x1 RGB PNG with `extra` chunks inserted before IEND."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\0\x10\x20\x30"))
    return SIG + ihdr + idat + b"".join(extra) + chunk(b"IEND", b"")


def text_chunk(keyword: str, card: object) -> bytes:
    value = base64.b64encode(json.dumps(card).encode("utf-8"))
    return chunk(b"tEXt", keyword.encode() + b"\0" + value)


def walk(png: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into chunks, asserting lengths and CRCs are right."""
    assert png[:8] == SIG
    pos, out = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        ctype, body = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(ctype + body), ctype
        out.append((ctype, body))
        pos += 12 + length
    assert pos == len(png) and out[0][0] == b"IHDR" and out[-1] == (b"IEND", b"")
    return out


def card_chunks(png: bytes) -> dict[str, dict]:
    found = {}
    for ctype, body in walk(png):
        if ctype == b"tEXt":
            key, _, value = body.partition(b"\0")
            found[key.decode()] = json.loads(base64.b64decode(value))
    return found


def rich_v2_data() -> dict:
    return {
        "name": "Mira",
        "description": "A lighthouse keeper. ✨ ünïcode",
        "personality": "calm, dry humour",
        "scenario": "{{user}} washes ashore.",
        "first_mes": "Hello, {{user}}. I'm {{char}}.",
        "mes_example": "<START>\n{{user}}: hi\n{{char}}: hey",
        "creator_notes": "Works best with long context.",
        "system_prompt": "You are {{char}}.",
        "post_history_instructions": "Stay in character.",
        "alternate_greetings": ["Oh, you're awake.", "Storm's coming."],
        "character_book": {
            "name": "Coast",
            "scan_depth": 4,
            "extensions": {"x": 1},
            "entries": [
                {"keys": ["lighthouse"], "content": "It is old.", "extensions": {},
                 "enabled": True, "insertion_order": 10, "id": 1},
                {"keys": ["storm", "rain"], "content": "Storms are common.", "extensions": {"depth": 2},
                 "enabled": False, "insertion_order": 20, "secondary_keys": ["sea"], "position": "after_char"},
            ],
        },
        "tags": ["fantasy", "sea"],
        "creator": "someone",
        "character_version": "1.2",
        "extensions": {"talkativeness": "0.5", "fav": True, "depth_prompt": {"prompt": "x", "depth": 4}},
        "some_unknown_key": {"nested": [1, 2, 3]},
    }


def rich_v3_data() -> dict:
    data = rich_v2_data()
    data.update({
        "nickname": "Mi",
        "group_only_greetings": ["Hi all."],
        "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        "creator_notes_multilingual": {"en": "notes", "fr": "notes fr"},
        "source": ["https://example.invalid/mira"],
        "creation_date": 1700000000,
        "modification_date": 1700000500,
    })
    return data


def as_json(card: object) -> bytes:
    return json.dumps(card, ensure_ascii=False).encode("utf-8")
