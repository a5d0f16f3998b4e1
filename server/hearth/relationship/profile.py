"""The person's profile, checked: what they are called, who they are, their zone and language.

`check(...)` returns the fields as they will be stored, or raises InvalidInput whose
message starts with the field's name; a caller stores nothing unless every field passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hearth.errors import InvalidInput
from hearth.zones import zone_named

MAX_DISPLAY_NAME = 100
MAX_PRONOUNS = 40
MAX_PERSONA = 2000

# ISO 639-1: the two-letter language subtags BCP-47 uses where a language has one.
_ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy
da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu
hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb
lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om
or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw
ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())
# Languages with no two-letter code that people (and speech models) use: ISO 639-2/3.
_ISO_639_3 = frozenset("""
ast ceb chr ckb cmn fil gsw haw hmn kab lij lmo nan nap nds pap scn sco szl wuu yue
""".split())
# language[-script][-region][-variant...], BCP-47's common shape (no extensions).
_TAG = re.compile(
    r"(?P<lang>[a-z]{2,3})(?:-(?P<script>[a-z]{4}))?(?:-(?P<region>[a-z]{2}|\d{3}))?"
    r"(?P<variants>(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*)", re.IGNORECASE)


@dataclass(frozen=True)
class ProfileFields:
    """The fields a change may carry; None: leave as is."""

    display_name: str | None = None
    pronouns: str | None = None
    persona: str | None = None
    timezone: str | None = None
    language: str | None = None
    reach_out: bool | None = None


def check_timezone(name: str) -> str:
    """An IANA zone name zoneinfo knows ('' = the machine's zone)."""
    name = name.strip()
    if name and zone_named(name) is None:
        raise InvalidInput(f"timezone: {name!r} is not a time zone name; use an IANA name "
                           "such as 'Asia/Seoul' or 'Europe/Berlin' (or '' for the server's)")
    return name


def check_language(tag: str) -> str:
    """A BCP-47 tag naming a known language ('' = English), in its usual case: 'pt-BR'."""
    tag = tag.strip().replace("_", "-")
    if not tag:
        return ""
    m = _TAG.fullmatch(tag)
    lang = m.group("lang").lower() if m else ""
    if m is None or lang not in (_ISO_639_1 if len(lang) == 2 else _ISO_639_3):
        raise InvalidInput(f"language: {tag!r} is not a known language tag; use a BCP-47 "
                           "tag such as 'en', 'ko' or 'pt-BR' (or '' for English)")
    parts = [lang]
    if m.group("script"):
        parts.append(m.group("script").title())
    if m.group("region"):
        parts.append(m.group("region").upper())
    parts += [v.lower() for v in m.group("variants").split("-") if v]
    return "-".join(parts)


def _text(field: str, value: str, limit: int, *, one_line: bool = True) -> str:
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{field}: {len(value)} characters; the limit is {limit}, "
                           "shorten it")
    if one_line and any(c in value for c in "\r\n"):
        raise InvalidInput(f"{field}: must be one line; remove the line breaks")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidInput(f"{field}: contains control characters; remove them")
    return value


def check(fields: ProfileFields) -> dict[str, str | bool]:
    """The given fields as stored (trimmed, tags in their usual case), or InvalidInput."""
    out: dict[str, str | bool] = {}
    if fields.display_name is not None:
        out["display_name"] = _text("display_name", fields.display_name, MAX_DISPLAY_NAME)
    if fields.pronouns is not None:
        out["pronouns"] = _text("pronouns", fields.pronouns, MAX_PRONOUNS)
    if fields.persona is not None:
        out["persona"] = _text("persona", fields.persona, MAX_PERSONA, one_line=False)
    if fields.timezone is not None:
        out["timezone"] = check_timezone(fields.timezone)
    if fields.language is not None:
        out["language"] = check_language(fields.language)
    if fields.reach_out is not None:
        out["reach_out"] = bool(fields.reach_out)
    return out
