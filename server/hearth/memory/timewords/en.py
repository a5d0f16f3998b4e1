"""English time words for ``memory/timeref.py``; the conventions are described there."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from hearth.memory.timewords.base import (
    Ctx,
    Language,
    Rule,
    Span,
    add_months,
    ago,
    calendar_unit,
    days_back,
    month_span,
    rolling,
    rule,
    season_span,
)

__all__ = ["LANGUAGE"]


# --- vocabulary -------------------------------------------------------------

_MONTHS = {
    name: i for i, name in enumerate(
        ["january", "february", "march", "april", "may", "june", "july", "august",
         "september", "october", "november", "december"], start=1)
}
_MONTH_ABBR = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
               "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_NUM_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
              "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
              "twelve": 12}
_FUZZY = {"couple": (1, 3), "few": (2, 5), "several": (3, 8)}
_PART_DAYS = {"early": (1, 10), "beginning": (1, 10), "start": (1, 10), "mid": (11, 20),
              "middle": (11, 20), "late": (21, 31), "end": (21, 31)}
_YEAR_PART_MONTHS = {"early": (1, 5), "mid": (5, 9), "late": (9, 13)}

_MONTH_NAMES = "|".join(sorted([*_MONTHS, *_MONTH_ABBR], key=len, reverse=True))
_MON = rf"(?P<mon>{_MONTH_NAMES})\b\.?"
_WD_NAMES = "|".join(_WEEKDAYS)
_WD = rf"(?P<wd>{_WD_NAMES})\b"
_SEASONS = "spring|summer|autumn|fall|winter"
_NUM = (r"(?P<n>\d{1,3}|(?:a\s+)?couple(?:\s+of)?|(?:a\s+)?few|several|"
        r"twelve|eleven|ten|nine|eight|seven|six|five|four|three|two|one|an|a)")
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>\d{4})\b"

# A reading that runs until now when introduced by "since".
_SINCE_BEFORE = re.compile(r"\b(?:ever\s+)?since\s+$", re.IGNORECASE)


# --- calendar helpers -------------------------------------------------------

def _month_num(token: str) -> int | None:
    low = token.lower().rstrip(".")
    # "may" the modal verb: only the capitalised word can be the month.
    if low == "may" and token.rstrip(".") != "May":
        return None
    return _MONTHS.get(low) or _MONTH_ABBR.get(low)


def _count(token: str) -> tuple[int, int]:
    t = " ".join(token.lower().split())
    if t.isdigit():
        return int(t), int(t)
    for word, span in _FUZZY.items():
        if word in t:
            return span
    n = _NUM_WORDS[t]
    return n, n


def _two_digit_year(yy: int, today: date) -> int:
    return 2000 + yy if 2000 + yy <= today.year else 1900 + yy


# --- handlers ---------------------------------------------------------------

def _iso_date(m: re.Match[str], c: Ctx) -> Span:
    d = date(int(m["y"]), int(m["m"]), int(m["d"]))
    return d, d + timedelta(days=1)


def _slash_date(m: re.Match[str], c: Ctx) -> Span:
    a, b, y = int(m["a"]), int(m["b"]), int(m["y"])
    if len(m["y"]) == 2:
        y = _two_digit_year(y, c.today)
    month, day = (a, b) if a <= 12 else (b, a)
    d = date(y, month, day)
    return d, d + timedelta(days=1)


def _named_date(m: re.Match[str], c: Ctx) -> Span | None:
    month = _month_num(m["mon"])
    if month is None:
        return None
    day = int(m["d"])
    d = date(int(m["y"]), month, day) if m["y"] else c.recent_date(month, day)
    return d, d + timedelta(days=1)


def _day_before_yesterday(m: re.Match[str], c: Ctx) -> Span:
    return c.day(2)


def _before_last(m: re.Match[str], c: Ctx) -> Span:
    return calendar_unit(c, m["unit"].lower(), 2)


def _rolling(m: re.Match[str], c: Ctx) -> Span:
    return rolling(c, m["unit"].lower(), _count(m["n"])[1] if m["n"] else 1)


def _ago(m: re.Match[str], c: Ctx) -> Span:
    lo, hi = _count(m["n"]) if m["n"] else (1, 2)  # no count: "a day or two ago"
    return ago(c, m["unit"].lower(), lo, hi, exact=bool(m["exact"]))


def _calendar(m: re.Match[str], c: Ctx) -> Span:
    which = " ".join(m["which"].lower().split())
    return calendar_unit(c, m["unit"].lower(), 1 if which in ("last", "this past") else 0)


def _month(m: re.Match[str], c: Ctx) -> Span | None:
    month = _month_num(m["mon"])
    trig = " ".join((m["trig"] or "").lower().split())
    full_name = m["mon"].lower().rstrip(".") in _MONTHS
    cued = m["y"] or m["part"] or (trig and (trig != "of" or full_name))
    if month is None or not cued:
        return None
    if m["y"]:
        year = int(m["y"])
    else:
        year = c.recent_month_year(month, strictly_before=trig in ("last", "this past"))
    start, end = month_span(year, month)
    if m["part"]:
        first, last = _PART_DAYS[m["part"].split()[0].lower()]
        last = min(last, calendar.monthrange(year, month)[1])
        start, end = date(year, month, first), date(year, month, last) + timedelta(days=1)
    return start, end


def _season(m: re.Match[str], c: Ctx) -> Span | None:
    name = m["s"].lower()
    mod = " ".join((m["mod"] or "").lower().split())
    if m["y"]:
        return season_span(name, int(m["y"]))
    if mod not in ("last", "this past", "past", "this", "over the", "during the"):
        return None
    return c.recent_season(name, ended=mod in ("last", "this past", "past"))


def _decade(m: re.Match[str], c: Ctx) -> Span:
    dec = int(m["dec"])
    if dec < 100:
        dec = _two_digit_year(dec, c.today)
    return date(dec, 1, 1), date(dec + 10, 1, 1)


def _year(m: re.Match[str], c: Ctx) -> Span | None:
    year = int(m["y"])
    if not 1900 <= year <= 2100:  # "in 1500 words" is not a year
        return None
    trig = m["trig"].lower()
    if trig in _YEAR_PART_MONTHS:
        lo, hi = _YEAR_PART_MONTHS[trig]
        return date(year, lo, 1), add_months(date(year, lo, 1), hi - lo)
    return date(year, 1, 1), date(year + 1, 1, 1)


def _weekday(m: re.Match[str], c: Ctx) -> Span:
    wd = _WEEKDAYS.index(m["wd"].lower())
    mod = " ".join((m["mod"] or "").lower().split())
    if mod == "this" and wd <= c.today.weekday():
        return c.day(c.today.weekday() - wd)
    return c.day((c.today.weekday() - wd) % 7 or 7)


# --- rules, most specific first ---------------------------------------------

RULES: list[Rule] = [
    rule(rf"\b(?:next|coming|upcoming|following|every)\s+"
          rf"(?:\d+\s+|few\s+|couple\s+(?:of\s+)?)?"
          rf"(?:days?|weeks?|weekends?|months?|years?|(?:{_WD_NAMES})\b|(?:{_MONTH_NAMES})\b|"
          rf"(?:{_SEASONS})\b)"
          r"|\btomorrow\b|\btmrw\b", None),
    rule(r"\b(?P<y>\d{4})([-/.])(?P<m>\d{1,2})\2(?P<d>\d{1,2})\b", _iso_date),
    rule(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\d/])", _slash_date),
    rule(rf"\b(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?{_MON}(?:,?\s+{_YEAR})?",
          _named_date),
    rule(rf"\b{_MON}\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}\b(?!:)(?:,?\s+{_YEAR})?",
          _named_date),
    rule(r"\b(?:the\s+)?day\s+before\s+yesterday\b", _day_before_yesterday),
    rule(r"\b(?:the\s+)?(?P<unit>weekend|week|month|year)\s+before\s+last\b", _before_last),
    rule(rf"\b(?:(?:in|over|during|within|for)\s+)?(?:the\s+)?(?:last|past)\s+{_NUM}\s*"
          r"(?P<unit>minute|hour|day|week|month|year)s?\b", _rolling),
    rule(r"\b(?:(?:(?:in|over|during|within|for)\s+)?the\s+(?:last|past)|(?:this\s+)?past)\s+"
          r"(?P<n>)?(?P<unit>day|week|month|year)\b(?!\s+of\b)", _rolling),
    rule(r"\ba\s+(?P<unit>day|week|month|year)\s+or\s+two\s+ago(?P<n>)?(?P<exact>)?\b", _ago),
    rule(rf"\b{_NUM}\s*(?P<unit>minute|hour|day|week|month|year)s?(?:\s+or\s+so)?\s+"
          r"(?:ago|back)(?P<exact>\s+today)?\b", _ago),
    rule(r"\b(?P<which>last|this\s+past|this)\s+(?P<unit>weekend|week|month|year)\b(?!\s+of\b)",
          _calendar),
    rule(rf"\b(?:(?P<trig>back\s+in|in|during|since|throughout|last|this\s+past|this|of)\s+)?"
          r"(?:(?:the\s+)?(?P<part>early|mid|late|beginning\s+of|start\s+of|middle\s+of|end\s+of)"
          rf"[\s-]+)?{_MON}(?:,?\s+(?:of\s+)?{_YEAR})?", _month),
    rule(r"\b(?:(?P<mod>last|this\s+past|this|past|over\s+the|during\s+the)\s+)?"
          rf"(?P<s>{_SEASONS})\b(?:\s+(?:of\s+)?{_YEAR})?", _season),
    rule(r"\b(?:back\s+in|in|during|since)\s+the\s+['\u2019]?(?P<dec>(?:19|20)?\d0)['\u2019]?s\b",
          _decade),
    rule(rf"\b(?P<trig>back\s+in|in|during|since|throughout|the\s+year|year|early|mid|late)"
          rf"[\s-]+{_YEAR}(?![-/.:]\d)", _year),
    rule(rf"\b(?:(?P<mod>on|last|this\s+past|this|past|since)\s+)?{_WD}", _weekday),
    rule(r"\b(?:yesterday|last\s+night)\b", days_back(1, 1)),
    rule(r"\b(?:(?:earlier\s+)?today|tonight|this\s+(?:morning|afternoon|evening))\b",
          days_back(0, 0)),
    rule(r"\bthe\s+other\s+(?:day|night)\b", days_back(1, 14)),
    rule(r"\b(?:recently|lately|of\s+late)\b", days_back(0, 13)),
]


LANGUAGE = Language("en", RULES, None, since_before=_SINCE_BEFORE)
