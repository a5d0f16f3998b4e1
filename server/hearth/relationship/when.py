"""Future time expressions in a message, resolved against the moment it was said.

``find_due("my interview is tomorrow at 10", now=said_at)`` gives when a plan is
due. The companion of ``memory/timeref.py`` (which reads the *past*): the same
conventions, its vocabulary and calendar helpers, and everything computed from
``now`` (aware; day boundaries are midnights in its zone), never the wall clock.

Decisions:

- A day without a clock time is ``all_day`` and due at that day's local midnight;
  ``morning``/``evening``/``tonight`` alone do not make a clock time.
- ``tomorrow``/``tmrw`` +1, ``the day after tomorrow`` +2; ``today``/``tonight``/
  ``this evening``/``later today`` -> today.
- Weeks start on Monday. Bare ``Friday``/``on Friday``/``coming Friday`` -> the next
  Friday strictly after today (1-7 days); ``this Friday`` -> today if it is Friday,
  else the coming one; ``next Friday`` -> the Friday of next calendar week (said on
  a Monday that is 11 days away, said on a Saturday 6). ``Fridays``/``every
  Friday`` are habits: consumed, no due.
- ``this weekend``/``the weekend`` -> its Saturday (today on a Saturday or Sunday);
  ``next weekend`` -> next week's Saturday. ``next week`` -> next Monday; ``next
  month`` -> the 1st of next month (both all-day: a vague plan still gets a day).
- ``in N days|weeks|months`` -> that day (``a couple`` = 2, ``a few`` = 3,
  ``a fortnight`` = 14 days); ``in N hours|minutes`` -> that instant.
- Dates: ``3 May``, ``May 3rd``, ``the 3rd of May``, ``2027-05-03``; without a year
  the next such date on or after today (so a birthday said on the day is today).
  ``the 23rd`` (an ordinal is required) -> the next 23rd of a month on or after
  today. Slashes follow timeref: ``5/3/2027`` is US month/day/year, read day/month
  when the first number cannot be a month; without a year (``5/3``) only after
  ``on``/``by``/``for``/``until`` so fractions and scores are not dates. A weekday
  said with a date (``saturday the 16th``, ``fri, 9 jan``) yields to the date; with
  an ordinal alone it picks the first such day that falls on it within three months.
  Lowercase ``may`` beside a day number is the month.
- Weekday short forms that are also words (``sat``, ``wed``) only after ``on``/
  ``next``/``coming`` or before a date. Fixed-date holidays (christmas, new year's
  eve, valentine's day, halloween) only after a preposition, so greetings are not dates.
- Clock times: ``10am``, ``3:30 pm``, ``15:30``, ``at 10``, ``at 10.30``, ``around 4``,
  ``from 8``, ``8ish``, ``at eight``, ``at noon``, ``half 3`` (British 3:30), ``half
  past 7``, ``quarter to 5``; counts (``from 2 people``) are not times. A bare hour
  (``at 7``, ``6:30``) is pm when the message speaks of the evening or night or of
  dinner, drinks, a party, a show; am with ``morning``; otherwise 1-6 are pm and
  7-11 am. A time with no day is today if still ahead, else tomorrow.
- Anything resolving before today (or, with a clock time, before ``now``) is not a
  future reference: ``None``.
- Not covered: ``a week from Friday``, ``Friday week``, month names alone
  (``in May``), seasons, movable holidays, ``midnight``.

Phrase tables are per language (``_LEXICONS``) so others can be added beside English.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hearth.memory.timewords.base import Ctx as _Ctx
from hearth.memory.timewords.base import add_months as _add_months
from hearth.memory.timewords.en import _WEEKDAYS, _count, _month_num

__all__ = ["Due", "When", "find_due", "find_shift", "read_when"]


@dataclass(frozen=True)
class Due:
    at: float  # epoch seconds: the clock time, or local midnight when all_day
    all_day: bool
    phrase: str  # the matched text, e.g. "tomorrow at 10"


@dataclass(frozen=True)
class When:
    """A future reference in parts, for callers that combine it with an older due."""

    day: date | None  # None: only a clock time was said
    clock: tuple[int, int] | None  # (hour, minute); None: no clock time
    instant: datetime | None  # "in 2 hours": an exact moment, day and clock unused
    phrase: str
    spans: tuple[tuple[int, int], ...] = field(default=())  # where in the text


# --- vocabulary (English) ---------------------------------------------------

_MONTH_WORDS = ("january|february|march|april|may|june|july|august|september|october|"
                "november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec")
_MON = rf"(?P<mon>{_MONTH_WORDS})\b\.?"
_WD_WORDS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|tues|thurs"
# Short forms that are also words ("sat", "wed", "sun") count only after on/next/this or
# before a date ("sat 16th").
_WD_ABBR = "mon|tue|tues|wed|thu|thur|thurs|fri|sat"
_WD_FULL = {"mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday",
            "thu": "thursday", "thur": "thursday", "thurs": "thursday", "fri": "friday",
            "sat": "saturday", "sun": "sunday"}
# A weekday said before a date ("saturday the 16th", "fri, 9 jan"): the date decides.
_WD_BEFORE = rf"(?:(?:on\s+)?(?P<wd>{_WD_WORDS}|{_WD_ABBR}|sun)\.?,?\s+)?"
_HOUR_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
# "at one" is too often "at one point": words for hours from two.
_HOUR_WORD = "(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_HOUR_ANY = rf"(?P<h>\d{{1,2}}|one|{_HOUR_WORD})"
_NOT_A_TIME = (r"(?!\s*(?:%|percent|people|persons|guests|of\b|times|mins?\b|minutes|hours?\b|"
               r"hrs?\b|days?\b|weeks?\b|months?\b|years?\b|kg|km|miles?|points?|x\b))")
# Fixed-date holidays, only after a preposition ("on valentine's day", "for christmas"),
# so greetings ("merry christmas!") are not dates.
_HOLIDAYS = {"christmas eve": (12, 24), "xmas eve": (12, 24), "christmas day": (12, 25),
             "christmas": (12, 25), "xmas": (12, 25), "boxing day": (12, 26),
             "new year's eve": (12, 31), "new years eve": (12, 31), "nye": (12, 31),
             "new year's day": (1, 1), "new years day": (1, 1),
             "valentine's day": (2, 14), "valentines day": (2, 14), "valentine's": (2, 14),
             "halloween": (10, 31)}
_ORD = r"(?:st|nd|rd|th)?"
_PART = r"(?:\s+(?P<part>morning|afternoon|evening|night|lunchtime))?"
_NUM = (r"(?P<n>\d{1,3}|(?:a\s+)?couple(?:\s+of)?|(?:a\s+)?few|several|"
        r"twelve|eleven|ten|nine|eight|seven|six|five|four|three|two|one|an|a)")
_SHIFT_NUM = _NUM.replace("?P<n>", "?P<sn>")
_EVENING = re.compile(r"\b(evening|tonight|tonite|night|dinner|supper|drinks|party|concert|"
                      r"show|movie|gig)\b", re.IGNORECASE)
# When a part of the day is over: "this morning" said at 6 pm is the day's story.
_PART_ENDS = {"morning": 12, "afternoon": 18}
_MORNING = re.compile(r"\b(morning|breakfast|brunch)\b", re.IGNORECASE)

_Handler = Callable[[re.Match[str], _Ctx], date | datetime | None]


def _n(token: str) -> int:
    """A count as one number: a couple = 2, a few = 3, several = 4."""
    t = " ".join(token.lower().split())
    for word, n in (("couple", 2), ("few", 3), ("several", 4)):
        if word in t:
            return n
    return _count(t)[0]


def _next_date(c: _Ctx, month: int, day: int) -> date | None:
    """The first month/day on or after today (a leap day may be years ahead)."""
    for year in range(c.today.year, c.today.year + 9):
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if d >= c.today:
            return d
    return None


# --- day handlers -----------------------------------------------------------

def _iso(m: re.Match[str], c: _Ctx) -> date:
    return date(int(m["y"]), int(m["m"]), int(m["d"]))


def _slash(m: re.Match[str], c: _Ctx) -> date | None:
    a, b = int(m["a"]), int(m["b"])
    month, day = (a, b) if a <= 12 else (b, a)
    if not m["y"]:
        return _next_date(c, month, day)
    y = int(m["y"])
    return date(2000 + y if y < 100 else y, month, day)


def _month(token: str) -> int | None:
    # Beside a day number "may" is the month even typed lowercase ("on may 7th").
    return 5 if token.lower().rstrip(".") == "may" else _month_num(token)


def _named(m: re.Match[str], c: _Ctx) -> date | None:
    month = _month(m["mon"])
    if month is None:
        return None
    day = int(m["d"])
    return date(int(m["y"]), month, day) if m["y"] else _next_date(c, month, day)


def _ordinal_day(m: re.Match[str], c: _Ctx) -> date | None:
    """The next such day of a month; with a weekday ("saturday the 16th"), the first
    one within a year that falls on it, else the next one."""
    day = int(m["d"])
    first = c.today.replace(day=1)
    name = (m.groupdict().get("wd") or "").lower()
    wd = _WEEKDAYS.index(_WD_FULL.get(name, name)) if name else None
    candidates = []
    for k in range(0, 13):
        try:
            d = _add_months(first, k).replace(day=day)
        except ValueError:
            continue
        if d >= c.today:
            candidates.append(d)
    matching = [d for d in candidates if d.weekday() == wd]
    if matching and (matching[0] - c.today).days <= 92:
        return matching[0]
    return candidates[0] if candidates and (candidates[0] - c.today).days <= 92 else None


def _holiday(m: re.Match[str], c: _Ctx) -> date | None:
    name = " ".join(m["hol"].lower().replace("’", "'").split())
    return _next_date(c, *_HOLIDAYS[name])


def _offset(days: int) -> _Handler:
    def handler(m: re.Match[str], c: _Ctx) -> date:
        return c.today + timedelta(days=days)

    return handler


def _weekday(m: re.Match[str], c: _Ctx) -> date:
    name = m["wd"].lower()
    wd = _WEEKDAYS.index(_WD_FULL.get(name, name))
    mod = " ".join((m["mod"] or "").lower().split())
    today = c.today.weekday()
    if mod == "next":
        return c.monday + timedelta(days=7 + wd)
    if mod == "this" and wd == today:
        return c.today
    return c.today + timedelta(days=(wd - today) % 7 or 7)


def _weekend(m: re.Match[str], c: _Ctx) -> date:
    if (m["mod"] or "").lower() == "next":
        return c.monday + timedelta(days=12)
    if c.today.weekday() >= 5:
        return c.today
    return c.monday + timedelta(days=5)


def _next_unit(m: re.Match[str], c: _Ctx) -> date:
    if m["unit"].lower() == "week":
        return c.monday + timedelta(days=7)
    return _add_months(c.today.replace(day=1), 1)


def _in_n(m: re.Match[str], c: _Ctx) -> date | datetime:
    n = _n(m["n"])
    unit = m["unit"].lower()
    if unit == "hour":
        return c.now + timedelta(hours=n)
    if unit == "minute":
        return c.now + timedelta(minutes=n)
    if unit == "day":
        return c.today + timedelta(days=n)
    if unit in ("week", "fortnight"):
        return c.today + timedelta(days=n * (14 if unit == "fortnight" else 7))
    return _add_months(c.today, n)


def _habit(m: re.Match[str], c: _Ctx) -> None:
    return None


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    handler: _Handler


def _rule(pattern: str, handler: _Handler) -> _Rule:
    return _Rule(re.compile(pattern, re.IGNORECASE), handler)


@dataclass(frozen=True)
class _Lexicon:
    days: list[_Rule]  # most specific first; a handler giving None claims a habit
    clock_ampm: re.Pattern[str]  # groups h, mi, ap
    clock_colon: re.Pattern[str]  # groups h, mi
    clock_at: re.Pattern[str]  # group h (or h2)
    clock_dot: re.Pattern[str]  # "at 10.30": groups h, mi
    clock_half: re.Pattern[str]  # "half 3", "quarter to 5": groups q, rel, h
    noon: re.Pattern[str]
    pm_words: re.Pattern[str]  # "p" in the am/pm group
    shift: re.Pattern[str]  # "pushed back a week": groups dir, sn, su


_EN = _Lexicon(
    days=[
        # Past references are claimed so "last Tuesday" is not read as the next one.
        _rule(rf"\b(?:last|past|previous|this\s+past)\s+(?:(?:{_WD_WORDS})\b|week(?:end)?|"
              r"month|year|night)\b|\byesterday\b|\b(?:the\s+)?day\s+before\b|"
              r"\b\w+\s+(?:days?|weeks?|months?|years?)\s+ago\b", _habit),
        # A habit names its days in a list too: "every monday and thursday".
        _rule(rf"\b(?:every|each)\s+(?:other\s+|second\s+)?(?:(?:{_WD_WORDS}|{_WD_ABBR})s?"
              rf"(?:\s*(?:,|and|&|or|/)\s*(?:{_WD_WORDS}|{_WD_ABBR})s?\b)*\b|day|morning|"
              rf"evening|night|week(?:end)?)|\b(?:on\s+)?(?:{_WD_WORDS})s\b", _habit),
        _rule(r"\b(?:on\s+)?(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b", _iso),
        _rule(r"(?<![\d/])(?:on\s+)?(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\d/])",
              _slash),
        _rule(r"\b(?:on|by|for|until|till)\s+(?P<a>\d{1,2})/(?P<b>\d{1,2})(?![\d/])(?P<y>)",
              _slash),
        _rule(rf"\b{_WD_BEFORE}(?:on\s+)?(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?"
              rf"{_MON}(?:,?\s+(?P<y>\d{{4}}))?", _named),
        _rule(rf"\b{_WD_BEFORE}(?:on\s+)?{_MON}\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}\b"
              rf"(?![:.]\d|\s*(?:am|pm|h)\b)(?:,?\s+(?P<y>\d{{4}}))?", _named),
        _rule(rf"\b{_WD_BEFORE}(?:on\s+)?the\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)\b", _ordinal_day),
        _rule(rf"\b(?:on\s+)?(?P<wd>{_WD_WORDS}|{_WD_ABBR}|sun)\.?,?\s+(?P<d>\d{{1,2}})"
              r"(?:st|nd|rd|th)\b", _ordinal_day),
        # "on 21st", "moved to 23rd": the ordinal without "the", as often typed; not "for
        # 3rd time", "to 2nd place" (a word after it must be one that can follow a date).
        _rule(r"\b(?:on|to|until|till|by)\s+(?P<d>\d{1,2})(?:st|nd|rd|th)\b"
              r"(?!\s+(?!(?:at|and|but|so|or|instead|same|for|in|then|is|was|too|as|lol|"
              r"haha|morning|afternoon|evening|night|around|from)\b)[a-z])", _ordinal_day),
        _rule(r"\b(?:on|for|over|this|until|till|at)\s+(?:the\s+)?(?P<hol>"
              + "|".join(k.replace("'", "['’]?").replace(" ", r"\s+")
                         for k in sorted(_HOLIDAYS, key=len, reverse=True))
              + r")(?![\w'’])", _holiday),
        _rule(rf"\b(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw){_PART}", _offset(2)),
        _rule(rf"\b(?:tomorrow|tmrw|tmr|tomorow|2morrow){_PART}", _offset(1)),
        _rule(r"\b(?:tonight|tonite|(?:later\s+|earlier\s+)?today|later\s+on\s+today|"
              r"this\s+(?P<part>morning|afternoon|evening))\b", _offset(0)),
        _rule(rf"\b(?:(?P<mod>this\s+coming|this|next|coming|on)\s+)?(?P<wd>{_WD_WORDS})\b"
              rf"{_PART}", _weekday),
        _rule(rf"\b(?P<mod>next|coming|on)\s+(?P<wd>{_WD_ABBR})\b\.?{_PART}", _weekday),
        _rule(r"\b(?:(?P<mod>this|next|the|over\s+the|on\s+the)\s+)weekend\b", _weekend),
        _rule(r"\bnext\s+(?P<unit>week|month)\b", _next_unit),
        _rule(rf"\bin\s+(?:about\s+|around\s+|roughly\s+|just\s+)?{_NUM}\s+"
              r"(?P<unit>day|week|fortnight|month|hour|minute)s?\b", _in_n),
        _rule(r"\bin\s+(?P<n>a)\s+(?P<unit>fortnight)\b", _in_n),
    ],
    clock_ampm=re.compile(r"\b(?:at\s+|@\s*|around\s+|from\s+|by\s+)?(?P<h>\d{1,2})"
                          r"(?:[:.](?P<mi>\d{2}))?\s*(?P<ap>a\.?m\.?|p\.?m\.?)(?![a-z])",
                          re.IGNORECASE),
    clock_colon=re.compile(r"\b(?:at\s+|@\s*|around\s+|from\s+|by\s+)?(?P<h>\d{1,2}):"
                           r"(?P<mi>\d{2})\b(?!\s*/)", re.IGNORECASE),
    clock_at=re.compile(rf"(?:\b(?:at|around|from)\s+(?:about\s+|around\s+)?|@\s*)"
                        rf"(?P<h>\d{{1,2}}|(?<=at\s){_HOUR_WORD})(?:\s*o'?clock|\s*-?ish)?\b"
                        rf"(?![:/.,]?\d){_NOT_A_TIME}"
                        r"|\b(?P<h2>\d{1,2})\s*(?:o'?clock|-?ish)\b", re.IGNORECASE),
    clock_dot=re.compile(r"(?:\b(?:at|around|from)\s+|@\s*)(?P<h>\d{1,2})\.(?P<mi>\d{2})\b"
                         r"(?!\.\d|\s*(?:each|per|a\s+piece|%|dollars?|euros?|pounds?|bucks)\b)",
                         re.IGNORECASE),
    # British "half 3" is 3:30; "half past", "quarter past/to" everywhere.
    clock_half=re.compile(rf"\b(?:(?:at|around|from)\s+)?(?:(?P<q>half|quarter)\s+(?P<rel>past|after|to|til|till)\s+|"
                          rf"half\s+){_HOUR_ANY}\b{_NOT_A_TIME}", re.IGNORECASE),
    noon=re.compile(r"\b(?:at\s+|around\s+)?(?:noon|midday)\b", re.IGNORECASE),
    pm_words=re.compile(r"p", re.IGNORECASE),
    shift=re.compile(rf"\b(?P<dir>pushed\s+back|push(?:ed|ing)?\s+(?:it\s+)?back|"
                     r"postponed|delayed|moved\s+(?:back|up|forward)|"
                     r"brought\s+forward|pulled\s+forward|bumped\s+(?:back|up))"
                     rf"\s+(?:it\s+|them\s+)?(?:by\s+)?{_SHIFT_NUM}\s+"
                     r"(?P<su>day|week|hour|minute)s?\b",
                     re.IGNORECASE),
)
_LEXICONS = {"en": _EN}
_MASK = "\x00"


def _lexicon(lang: str) -> _Lexicon:
    return _LEXICONS.get(lang.split("-")[0].lower(), _EN)


# --- clock times ------------------------------------------------------------

def _hour(h: int, text: str, part: str | None) -> int:
    """A bare hour made 24-hour from the words around it."""
    if h >= 12 or h == 0:
        return h
    part = (part or "").lower()
    if part in ("evening", "night") or (part != "morning" and _EVENING.search(text)):
        return h + 12
    if part == "morning" or _MORNING.search(text):
        return h
    return h + 12 if h <= 6 else h


def _hour_num(token: str) -> int:
    return _HOUR_WORDS.get(token.lower()) or int(token)


def _half(m: re.Match[str], text: str, part: str | None) -> tuple[int, int] | None:
    h = _hour_num(m["h"])
    if not 1 <= h <= 12:
        return None
    if m["q"] is None:  # "half 3"
        return _hour(h, text, part), 30
    minutes = 30 if m["q"].lower() == "half" else 15
    if m["rel"].lower() in ("to", "til", "till"):
        h, minutes = (h - 1) or 12, 60 - minutes
    return _hour(h, text, part), minutes


def _find_clock(text: str, lex: _Lexicon, part: str | None
                ) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The first clock time: ((hour, minute), span)."""
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    for m in lex.clock_ampm.finditer(text):
        h, mi = int(m["h"]), int(m["mi"] or 0)
        if not 1 <= h <= 12 or mi > 59:
            continue
        pm = lex.pm_words.match(m["ap"]) is not None
        best = ((h % 12 + (12 if pm else 0), mi), m.span())
        break
    candidates = [best] if best else []
    for m in lex.clock_colon.finditer(text):
        h, mi = int(m["h"]), int(m["mi"])
        if h <= 23 and mi <= 59:
            candidates.append(((_hour(h, text, part), mi), m.span()))
            break
    for m in lex.clock_dot.finditer(text):
        h, mi = int(m["h"]), int(m["mi"])
        if h <= 23 and mi <= 59:
            candidates.append(((_hour(h, text, part), mi), m.span()))
            break
    for m in lex.clock_half.finditer(text):
        got = _half(m, text, part)
        if got is not None:
            candidates.append((got, m.span()))
            break
    for m in lex.clock_at.finditer(text):
        h = _hour_num(m["h"] or m["h2"])
        if 1 <= h <= 23:
            candidates.append(((_hour(h, text, part), 0), m.span()))
            break
    for m in lex.noon.finditer(text):
        candidates.append(((12, 0), m.span()))
        break
    if not candidates:
        return None
    # Overlapping readings ("at 3:30 pm" is also "3:30"): the earliest, then longest.
    return min(candidates, key=lambda c: (c[1][0], -(c[1][1] - c[1][0])))


# --- entry points -----------------------------------------------------------

def read_when(text: str, *, now: datetime, lang: str = "en") -> When | None:
    """The first future reference in ``text`` in parts, or None."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    lex = _lexicon(lang)
    ctx = _Ctx(now)
    work = text
    day: date | datetime | None = None
    day_span: tuple[int, int] | None = None
    part: str | None = None
    for rule in lex.days:
        for m in rule.pattern.finditer(work):
            try:
                got = rule.handler(m, ctx)
            except (ValueError, OverflowError):  # impossible dates, absurd counts
                continue
            if got is None and rule.handler is not _habit:
                continue
            s, e = m.span()
            work = work[:s] + _MASK * (e - s) + work[e:]
            if got is None:
                continue
            if day_span is None or s < day_span[0]:
                day, day_span = got, (s, e)
                part = m.groupdict().get("part")
    if isinstance(day, datetime):  # "in 2 hours": an exact moment
        assert day_span is not None
        phrase = " ".join(text[day_span[0]:day_span[1]].split())
        return When(day=None, clock=None, instant=day, phrase=phrase, spans=(day_span,))
    clock = _find_clock(work, lex, part or _tonight(text, day_span))
    if day is None and clock is None:
        return None
    if day == ctx.today and clock is None and now.hour >= _PART_ENDS.get((part or "").lower(), 24):
        return None
    spans = tuple(sorted(s for s in (day_span, clock[1] if clock else None) if s))
    if len(spans) == 2 and not text[spans[0][1]:spans[1][0]].strip(" ,"):
        phrase = text[spans[0][0]:spans[1][1]]
    else:
        phrase = ", ".join(text[s:e] for s, e in spans)
    return When(day=day, clock=clock[0] if clock else None, instant=None,
                phrase=" ".join(phrase.split()), spans=spans)


def _tonight(text: str, span: tuple[int, int] | None) -> str | None:
    if span and re.match(r"toni", text[span[0]:span[1]], re.IGNORECASE):
        return "night"
    return None


def at_local(now: datetime, day: date, clock: tuple[int, int] | None) -> datetime:
    """Local midnight of ``day``, or its clock time, in ``now``'s zone."""
    start = _Ctx(now).midnight(day)
    if clock is None:
        return start
    # Add the wall-clock time to the local date (not a timedelta from midnight, which
    # would drift across a DST change).
    return start.replace(hour=clock[0], minute=clock[1])


def find_due(text: str, *, now: datetime, lang: str = "en") -> Due | None:
    """When the first future reference in ``text`` is due, or None (none, or past)."""
    w = read_when(text, now=now, lang=lang)
    if w is None:
        return None
    return due_of(w, now=now)


def due_of(w: When, *, now: datetime) -> Due | None:
    if w.instant is not None:
        return Due(at=w.instant.replace(second=0, microsecond=0).timestamp(), all_day=False,
                   phrase=w.phrase)
    today = now.date()
    day = w.day
    if day is None:  # a clock time alone: the next time the clock shows it
        assert w.clock is not None
        day = today if at_local(now, today, w.clock) > now else today + timedelta(days=1)
    if day < today:
        return None
    moment = at_local(now, day, w.clock)
    if w.clock is not None and moment < now:
        return None
    return Due(at=moment.timestamp(), all_day=w.clock is None, phrase=w.phrase)


def find_shift(text: str, *, lang: str = "en") -> timedelta | None:
    """A relative move of a plan: "pushed back a week" -> +7 days, "moved up a day" -> -1."""
    m = _lexicon(lang).shift.search(text)
    if m is None:
        return None
    n = _n(m["sn"])
    unit = m["su"].lower()
    delta = {"day": timedelta(days=n), "week": timedelta(weeks=n),
             "hour": timedelta(hours=n), "minute": timedelta(minutes=n)}[unit]
    earlier = re.search(r"\b(up|forward)\b", m["dir"], re.IGNORECASE)
    return -delta if earlier else delta
