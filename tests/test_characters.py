"""Character Card V1/V2/V3 import and export (JSON and PNG)."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest

from hearth.characters import (
    MAX_CARD_BYTES_DEFAULT,
    ParsedCard,
    card_to_png,
    check_image,
    is_png,
    normalise_data,
    parse_card,
    placeholder_avatar,
    substitute,
    to_v2,
    to_v3,
)
from hearth.errors import InvalidInput, TooLarge
from tests.utils.cards import (
    SIG,
    as_json,
    card_chunks,
    chunk,
    rich_v2_data,
    rich_v3_data,
    text_chunk,
    tiny_png,
    walk,
)

# --- JSON round trips ---------------------------------------------------------------


def test_v2_json_round_trip_is_field_for_field() -> None:
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": rich_v2_data()}
    parsed = parse_card(as_json(card))
    assert isinstance(parsed, ParsedCard) and parsed.avatar is None
    assert to_v2(parsed.data) == card
    assert parsed.data["character_book"] == card["data"]["character_book"]


def test_v3_json_round_trip_is_field_for_field() -> None:
    card = {"spec": "chara_card_v3", "spec_version": "3.0", "data": rich_v3_data()}
    parsed = parse_card(as_json(card))
    assert to_v3(parsed.data) == card


def test_to_v2_drops_only_v3_keys() -> None:
    v2 = to_v2(rich_v3_data())["data"]
    assert v2 == rich_v2_data()


def test_defaults_are_filled() -> None:
    data = parse_card(b'{"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Bo"}}').data
    assert data == {
        "name": "Bo", "description": "", "personality": "", "scenario": "", "first_mes": "",
        "mes_example": "", "creator_notes": "", "system_prompt": "", "post_history_instructions": "",
        "creator": "", "character_version": "", "alternate_greetings": [], "tags": [],
        "group_only_greetings": [], "extensions": {}, "character_book": None,
    }


def test_bom_and_nulls_are_tolerated() -> None:
    raw = b"\xef\xbb\xbf" + b'{"spec":"chara_card_v2","data":{"name":"Bo","creator_notes":null,"tags":null}}'
    data = parse_card(raw).data
    assert data["creator_notes"] == "" and data["tags"] == []


def test_v1_card_is_lifted() -> None:
    v1 = {"name": "Old", "description": "d", "personality": "p", "scenario": "s",
          "first_mes": "f", "mes_example": "m"}
    data = parse_card(as_json(v1)).data
    assert {k: data[k] for k in v1} == v1
    assert data["alternate_greetings"] == [] and data["extensions"] == {}
    assert to_v3(data)["spec"] == "chara_card_v3"


def test_normalise_data_does_not_alias_input() -> None:
    src = rich_v2_data()
    out = normalise_data(src)
    out["extensions"]["fav"] = False
    out["character_book"]["entries"].clear()
    assert src == rich_v2_data()


def test_numeric_character_version_becomes_string() -> None:
    assert normalise_data({"name": "A", "character_version": 1.5})["character_version"] == "1.5"


# --- PNG ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["v2", "v3"])
def test_json_to_png_to_parse_keeps_data(spec: str) -> None:
    card = (
        {"spec": "chara_card_v2", "spec_version": "2.0", "data": rich_v2_data()}
        if spec == "v2" else {"spec": "chara_card_v3", "spec_version": "3.0", "data": rich_v3_data()}
    )
    data = parse_card(as_json(card)).data
    png = card_to_png(data, tiny_png())
    back = parse_card(png)
    assert back.data == data
    assert back.avatar is not None and card_chunks(back.avatar) == {}  # image without the card


def test_exported_png_has_both_chunks_with_valid_crcs() -> None:
    data = normalise_data(rich_v3_data())
    png = card_to_png(data, tiny_png())
    chunks = walk(png)
    assert [c for c, _ in chunks[-3:]] == [b"tEXt", b"tEXt", b"IEND"]
    found = card_chunks(png)
    assert found["chara"] == to_v2(data)
    assert found["ccv3"] == to_v3(data)
    check_image(png, max_bytes=MAX_CARD_BYTES_DEFAULT)


def test_export_replaces_old_card_chunks() -> None:
    old = {"spec": "chara_card_v2", "data": {"name": "Old"}}
    avatar = tiny_png(text_chunk("chara", old), text_chunk("ccv3", old), chunk(b"tEXt", b"Comment\0hi"))
    png = card_to_png(normalise_data({"name": "New"}), avatar)
    texts = [body for ctype, body in walk(png) if ctype == b"tEXt"]
    assert len(texts) == 3 and b"Comment\0hi" in texts
    assert parse_card(png).data["name"] == "New"


def test_png_prefers_ccv3_over_chara() -> None:
    v2 = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "From chara"}}
    v3 = {"spec": "chara_card_v3", "spec_version": "3.0", "data": {"name": "From ccv3", "nickname": "n"}}
    for order in ((v2, v3), (v3, v2)):
        chunks = [text_chunk("chara" if c is v2 else "ccv3", c) for c in order]
        assert parse_card(tiny_png(*chunks)).data["name"] == "From ccv3"


def test_png_with_only_chara_reads_v2() -> None:
    card = {"spec": "chara_card_v2", "spec_version": "2.0", "data": rich_v2_data()}
    parsed = parse_card(tiny_png(text_chunk("chara", card)))
    assert to_v2(parsed.data) == card


def test_png_with_v1_json_in_chara() -> None:
    png = tiny_png(text_chunk("chara", {"name": "Old", "description": "d"}))
    assert parse_card(png).data["description"] == "d"


def test_png_ztxt_and_itxt_chunks_are_read() -> None:
    card = {"spec": "chara_card_v3", "spec_version": "3.0", "data": {"name": "Zed"}}
    value = base64.b64encode(json.dumps(card).encode())
    ztxt = chunk(b"zTXt", b"ccv3\0\0" + zlib.compress(value))
    assert parse_card(tiny_png(ztxt)).data["name"] == "Zed"
    itxt = chunk(b"iTXt", b"chara\0\1\0en\0\0" + zlib.compress(value))
    assert parse_card(tiny_png(itxt)).data["name"] == "Zed"
    itxt_plain = chunk(b"iTXt", b"chara\0\0\0\0\0" + value)
    assert parse_card(tiny_png(itxt_plain)).data["name"] == "Zed"


def test_placeholder_when_no_avatar() -> None:
    png = card_to_png(normalise_data({"name": "Ash"}), None)
    ihdr = walk(png)[0][1]
    assert struct.unpack(">II", ihdr[:8]) == (256, 256)
    assert parse_card(png).data["name"] == "Ash"


def test_placeholder_avatar_is_valid_and_name_dependent() -> None:
    a, b = placeholder_avatar("Ash"), placeholder_avatar("Birch")
    assert is_png(a) and walk(a) and a == placeholder_avatar("Ash") and a != b
    check_image(a, max_bytes=1024 * 1024)
    idat = zlib.decompress(b"".join(body for c, body in walk(a) if c == b"IDAT"))
    assert len(idat) == 256 * (1 + 256 * 3)


# --- bad input --------------------------------------------------------------------


def b64_chunk(keyword: str, raw_value: bytes) -> bytes:
    return chunk(b"tEXt", keyword.encode() + b"\0" + raw_value)


def expect(exc: type, raw: bytes, *words: str, **kw: int) -> str:
    with pytest.raises(exc) as info:
        parse_card(raw, **kw)
    message = info.value.message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


@pytest.mark.parametrize("raw", [b"", b"   \n"])
def test_empty_file(raw: bytes) -> None:
    expect(InvalidInput, raw, "empty")


def test_random_bytes() -> None:
    expect(InvalidInput, bytes(range(256)) * 4, "neither a PNG image nor JSON")
    expect(InvalidInput, b"hello there", "neither a PNG image nor JSON")


def test_truncated_png() -> None:
    png = card_to_png(normalise_data({"name": "A"}), tiny_png())
    expect(InvalidInput, png[:-20], "not a valid PNG", "truncated")
    expect(InvalidInput, png[:10], "not a valid PNG")


def test_garbled_png() -> None:
    png = bytearray(tiny_png())
    png[45] ^= 0xFF  # inside the IDAT body -> CRC mismatch
    expect(InvalidInput, bytes(png), "not a valid PNG", "checksum")
    expect(InvalidInput, SIG + b"\0\0\0\x0d12\x003" + bytes(30), "not a valid PNG")


def test_png_without_card_chunk() -> None:
    expect(InvalidInput, tiny_png(), "no character card inside", "'chara'", "'ccv3'")


def test_bad_base64() -> None:
    expect(InvalidInput, tiny_png(b64_chunk("chara", b"not*base64!!")), "base64", "'chara'")


def test_bad_json_in_chunk() -> None:
    bad = base64.b64encode(b'{"spec": "chara_card_v2", ')
    expect(InvalidInput, tiny_png(b64_chunk("ccv3", bad)), "not valid JSON", "'ccv3'")


def test_bad_json_file() -> None:
    expect(InvalidInput, b'{"name": "x",', "not valid JSON", "line 1")


def test_json_array() -> None:
    expect(InvalidInput, b'[{"name": "x"}]', "must be a JSON object", "list")


def test_unknown_spec() -> None:
    expect(InvalidInput, b'{"spec": "chara_card_v9", "data": {"name": "x"}}', "unknown card spec", "chara_card_v9")


def test_v2_without_data() -> None:
    expect(InvalidInput, b'{"spec": "chara_card_v2", "spec_version": "2.0"}', "'data'")


@pytest.mark.parametrize("name", [None, "", "   "])
def test_missing_or_empty_name(name: object) -> None:
    data = {} if name is None else {"name": name}
    expect(InvalidInput, as_json({"spec": "chara_card_v2", "data": data}), "no name")


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("name", 5, ("'name'", "string")),
        ("description", ["x"], ("'description'", "string")),
        ("alternate_greetings", "hi", ("'alternate_greetings'", "list")),
        ("alternate_greetings", ["hi", 3], ("'alternate_greetings'", "list of strings")),
        ("tags", "a,b", ("'tags'", "list")),
        ("extensions", [], ("'extensions'", "object")),
        ("character_book", "book", ("'character_book'", "object")),
        ("group_only_greetings", [None], ("'group_only_greetings'", "list of strings")),
        ("nickname", 1, ("'nickname'", "string")),
        ("assets", {"a": 1}, ("'assets'", "list")),
        ("creation_date", "today", ("'creation_date'", "number")),
    ],
)
def test_wrong_field_types(field: str, value: object, words: tuple[str, ...]) -> None:
    data = {"name": "A", field: value}
    expect(InvalidInput, as_json({"spec": "chara_card_v3", "spec_version": "3.0", "data": data}), *words)
    with pytest.raises(InvalidInput):
        normalise_data(data)


def test_normalise_data_rejects_non_object() -> None:
    with pytest.raises(InvalidInput):
        normalise_data(["name"])  # type: ignore[arg-type]


def test_too_large() -> None:
    raw = as_json({"name": "A", "description": "x" * 2000})
    expect(TooLarge, raw, "limit", "1000 bytes", max_bytes=1000)
    big = b"{" + b" " * MAX_CARD_BYTES_DEFAULT + b"}"
    expect(TooLarge, big, "limit of 8 MiB (8388608 bytes)")
    assert TooLarge("x").status == 413 and InvalidInput("x").status == 422


def test_compressed_chunk_bomb_is_too_large() -> None:
    ztxt = chunk(b"zTXt", b"ccv3\0\0" + zlib.compress(b"A" * 100_000))
    expect(TooLarge, tiny_png(ztxt), "'ccv3'", max_bytes=10_000)


def test_card_to_png_rejects_non_png_avatar() -> None:
    with pytest.raises(InvalidInput, match="not a valid PNG"):
        card_to_png(normalise_data({"name": "A"}), b"GIF89a....")


# --- check_image -------------------------------------------------------------------


def test_check_image() -> None:
    check_image(tiny_png(), max_bytes=10_000)
    with pytest.raises(TooLarge, match="50 bytes"):
        check_image(tiny_png(), max_bytes=50)
    with pytest.raises(InvalidInput, match="PNG"):
        check_image(b"\xff\xd8\xff\xe0 jpeg", max_bytes=10_000)
    with pytest.raises(InvalidInput, match="not a valid PNG"):
        check_image(tiny_png()[:-5], max_bytes=10_000)
    with pytest.raises(InvalidInput, match="empty"):
        check_image(b"", max_bytes=10_000)
    # Detection is by content only.
    assert is_png(tiny_png()) and not is_png(b"{}") and not is_png(b"")


# --- substitute ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hi {{user}}, I am {{char}}.", "Hi Sam, I am Mira."),
        ("{{CHAR}} and {{User}}", "Mira and Sam"),
        ("{{ char }} / {{  user\t}}", "Mira / Sam"),
        ("<BOT> greets <USER>", "Mira greets Sam"),
        ("<bot> and <user>", "Mira and Sam"),
        ("{{charx}} {char} {{ch ar}} <CHAR>", "{{charx}} {char} {{ch ar}} <CHAR>"),
        ("", ""),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    assert substitute(text, char="Mira", user="Sam") == expected


def test_substitute_names_are_literal() -> None:
    # A name containing a macro or regex escapes is inserted as-is, not re-expanded.
    assert substitute("{{user}}!", char="C", user=r"{{char}} \1") == r"{{char}} \1!"
