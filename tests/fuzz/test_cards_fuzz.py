"""The card parser on bad input made on purpose: any bytes, any JSON, PNGs with random,
damaged or cut chunks. It returns a valid card or raises a HearthError with a message;
nothing else escapes. Valid cards made at random come back unchanged."""

from __future__ import annotations

import base64
import json
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hearth.characters import (
    V3_ONLY_KEYS,
    ParsedCard,
    card_to_png,
    normalise_data,
    parse_card,
    to_v2,
    to_v3,
)
from hearth.errors import HearthError
from tests.fuzz.conftest import Tally
from tests.utils.cards import SIG, as_json, chunk, tiny_png

MAX_BYTES = 64 * 1024  # small, so the size limits are fuzzed too
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

STR_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example",
              "creator_notes", "system_prompt", "post_history_instructions", "creator",
              "character_version")
LIST_FIELDS = ("alternate_greetings", "tags", "group_only_greetings", "source")
OTHER_FIELDS = ("extensions", "character_book", "nickname", "assets",
                "creator_notes_multilingual", "creation_date", "modification_date")

# -- strategies -------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda kids: (st.lists(kids, max_size=4)
                  | st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)
# A voice block, sometimes right, often not.
voices = st.fixed_dictionaries({}, optional={
    "name": st.sampled_from(["en_US-joe-medium", ""]) | json_values,
    "speaker": st.integers(-2, 3) | st.text(max_size=5) | json_values,
    "speed": st.floats(0.0, 5.0) | json_values,
})
extensions = st.dictionaries(st.text(max_size=8), json_values, max_size=3) | st.fixed_dictionaries(
    {"hearth": st.fixed_dictionaries({}, optional={"voice": voices | json_values}) | json_values})
# Dicts shaped like card data: known keys with right or wrong values, and unknown keys.
card_fields = st.fixed_dictionaries(
    {},
    optional={
        **{k: st.text(max_size=30) | json_values for k in STR_FIELDS},
        **{k: st.lists(st.text(max_size=10), max_size=3) | json_values for k in LIST_FIELDS},
        **{k: json_values for k in OTHER_FIELDS},
        "extensions": extensions | json_values,
        "name": st.text(min_size=1, max_size=20) | json_values,
    },
)
specs = st.sampled_from(["chara_card_v2", "chara_card_v3", "chara_card_v1", ""]) | json_values
cards = (
    card_fields
    | st.fixed_dictionaries(
        {"spec": specs, "data": card_fields | json_values},
        optional={"spec_version": st.sampled_from(["2.0", "3.0"]) | json_values})
    | json_values
)

# JSON-like text with the tokens parsers trip on: huge numbers, deep nesting, bad escapes.
json_tokens = st.sampled_from(
    ['{', '}', '[', ']', ',', ':', '"name"', '"data"', '"spec"', '"chara_card_v2"', '"x"',
     '0', '-1', '1.5e308', '1e999', 'NaN', 'Infinity', 'true', 'null', '"\\ud800"', '"\\u00"',
     ' ', '\n', '\ufeff'])
json_texts = st.one_of(
    st.lists(json_tokens, max_size=30).map("".join),
    st.integers(1, 20_000).map(lambda n: "9" * n),  # a number too long to convert
    st.integers(1, 20_000).map(lambda n: '{"name": "x", "extensions": {"n": ' + "1" * n + "}}"),
    st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n),  # nested too deep
    st.integers(1, 50_000).map(lambda n: '{"name": "x", "extensions": {"e": ' + "[" * n
                               + "]" * n + "}}"),
    st.integers(1, 50_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
).map(lambda s: s.encode("utf-8", "surrogatepass"))


def _payload(card_json: bytes) -> st.SearchStrategy[bytes]:
    """A card chunk's text: base64 of the card, or something that is not quite that."""
    b64 = base64.b64encode(card_json)
    return st.sampled_from([b64, b64.rstrip(b"="), b64[: len(b64) // 2], b" \n" + b64 + b"\n",
                            card_json])


@st.composite
def card_chunks(draw: st.DrawFn) -> bytes:
    keyword = draw(st.sampled_from([b"chara", b"ccv3", b"CCV3", b"Chara", b"comment", b""]))
    card_json = draw(st.one_of(cards.map(lambda c: json.dumps(c).encode()), json_texts,
                               st.binary(max_size=64)))
    text = draw(_payload(card_json) | st.binary(max_size=64))
    kind = draw(st.sampled_from([b"tEXt", b"zTXt", b"iTXt"]))
    if kind == b"tEXt":
        body = keyword + draw(st.sampled_from([b"\0", b""])) + text
    elif kind == b"zTXt":
        packed = draw(st.sampled_from([zlib.compress(text), zlib.compress(text)[:-3], text]))
        body = keyword + b"\0\0" + packed
    else:
        flag = draw(st.sampled_from([b"\0", b"\1", b""]))
        packed = zlib.compress(text) if flag == b"\1" and draw(st.booleans()) else text
        lang = draw(st.sampled_from([b"en\0\0", b"\0\0", b"\0", b""]))
        body = keyword + b"\0" + flag + b"\0" + lang + packed
    return chunk(kind, body)


chunk_types = (st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4,
                       max_size=4).map(str.encode)
               | st.sampled_from([b"IHDR", b"IDAT", b"IEND", b"tEXt"])
               | st.binary(min_size=4, max_size=4))


@st.composite
def pngs(draw: st.DrawFn) -> bytes:
    """A PNG made of chunks, some of them cards, some random; then maybe damaged."""
    extra = draw(st.lists(card_chunks() | st.builds(chunk, chunk_types, st.binary(max_size=32)),
                          max_size=4))
    raw = tiny_png(*extra)
    if draw(st.integers(0, 9)) == 0:  # a bomb: a small zTXt chunk that inflates past the limit
        raw = tiny_png(chunk(b"zTXt", b"chara\0\0" + zlib.compress(b"A" * (MAX_BYTES + 10))))
    damage = draw(st.sampled_from(["none"] * 4 + ["cut", "flip", "insert", "swap"]))
    if damage == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1:]
    elif damage == "insert":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    elif damage == "swap":  # chunks out of order: IEND first, no IHDR, ...
        raw = SIG + raw[len(SIG) + 25:] + raw[len(SIG):len(SIG) + 25]
    return raw


# -- the property -------------------------------------------------------------------


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def parses_or_refuses(raw: bytes) -> ParsedCard | None:
    """The parser's contract: a valid card, or a HearthError that says what to do."""
    try:
        card = parse_card(raw, max_bytes=MAX_BYTES)
    except HearthError as e:
        assert 400 <= e.status < 500 and e.code
        assert len(e.message) > 20, e.message
        return None
    assert isinstance(card, ParsedCard)
    assert isinstance(card.data["name"], str) and card.data["name"].strip()
    # What is stored reads back the same (compared as JSON: NaN is not equal to itself).
    assert _json(normalise_data(card.data)) == _json(card.data)
    if card.avatar is not None:
        assert card.avatar.startswith(SIG)
    return card


@FUZZ
@given(raw=st.binary(max_size=512) | st.binary(max_size=64).map(lambda b: SIG + b))
def test_any_bytes(tally: Tally, raw: bytes) -> None:
    tally()
    parses_or_refuses(raw)


@FUZZ
@given(card=cards)
def test_any_json(tally: Tally, card: object) -> None:
    tally()
    parses_or_refuses(json.dumps(card).encode())


@settings(FUZZ, max_examples=100)
@given(text=json_texts)
def test_json_that_trips_parsers(tally: Tally, text: bytes) -> None:
    tally()
    parses_or_refuses(text)


@FUZZ
@given(raw=pngs())
def test_png_with_random_damaged_chunks(tally: Tally, raw: bytes) -> None:
    tally()
    parses_or_refuses(raw)


# -- valid cards round-trip --------------------------------------------------------

texts = st.text(max_size=40)
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(texts, kids, max_size=3),
    max_leaves=8,
)
valid_data = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=30).filter(str.strip)},
    optional={
        **{k: texts for k in STR_FIELDS if k != "name"},
        **{k: st.lists(texts, max_size=3) for k in LIST_FIELDS},
        "extensions": st.dictionaries(texts.filter(lambda k: k != "hearth"), plain_json,
                                      max_size=3),
        "character_book": st.dictionaries(texts, plain_json, max_size=3),
        "nickname": texts,
        "creation_date": st.integers(0, 2**40),
        "x_unknown": plain_json,
    },
)


@settings(FUZZ, max_examples=100)
@given(data=valid_data, with_avatar=st.booleans())
def test_valid_cards_round_trip(tally: Tally, data: dict, with_avatar: bool) -> None:
    tally()
    expected = normalise_data(data)
    png = card_to_png(data, tiny_png() if with_avatar else None)
    assert parse_card(png).data == expected
    assert parse_card(as_json(to_v3(expected))).data == expected
    v2 = to_v2(expected)["data"]
    assert parse_card(as_json(to_v2(expected))).data == normalise_data(v2)
    assert not set(V3_ONLY_KEYS) & set(v2)
