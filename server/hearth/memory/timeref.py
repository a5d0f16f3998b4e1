"""Time references in a message, resolved against the moment it was said.

``resolve("what did I tell you last week?", now=said_at)`` gives the span that
memory retrieval should prefer. Everything is computed from ``now`` (aware; day
boundaries are midnights in its zone), never from the wall clock, so a message
replayed later resolves the same way.

Decisions (the resolver assumes *past* context: memories only exist in the past):

- Ranges are half-open ``[start, end)`` epoch seconds. Calendar spans are whole
  (``this week`` runs to next Monday even if that is after ``now``).
- Several references: ``resolve`` returns their union (min start, max end), the
  phrases joined with ", "; ``resolve_all`` gives each one in reading order.
  Overlapping readings are not double counted: longer, more specific patterns
  claim their text first ("the day before yesterday" is not also "yesterday").
- Weeks start on Monday. ``last weekend`` is the Saturday and Sunday of the
  previous week; ``this weekend`` is the current one on Saturday or Sunday and,
  on a weekday, the one just gone.
- ``today``/``tonight``/``this morning|afternoon|evening`` -> today;
  ``yesterday``/``last night`` -> yesterday.
- ``recently``/``lately`` -> the last 14 days including today; ``the other day``
  -> the 14 days before today.
- ``N days ago`` -> that calendar day; ``N weeks ago`` -> the 7 days centred on the
  day N weeks back; ``N months ago`` -> about a month (-15/+16 days) around the
  same day N months back; ``N years ago`` -> a year (-6/+6 months) around it.
  ``... ago today`` -> exactly that day. Hours/minutes: ``[now-(N+1)u, now-(N-1)u)``.
  Fuzzy counts: a couple = 1..3, a few = 2..5, several = 3..8, "a day or two" = 1..2.
- ``the past N days`` / ``in the last week`` / ``the last month`` -> rolling window
  ending with today (``the past 24 hours`` ends at ``now``); ``last week`` /
  ``last month`` / ``last year`` -> the previous calendar unit.
- Weekdays: bare, ``on X`` and ``last X`` -> the most recent X strictly before today
  (1-7 days back; ``last Monday`` said on a Tuesday is yesterday). ``this X`` -> X of
  the current week if it is not after today, else the most recent past X.
- Months: ``in May`` / ``this May`` -> the most recent May that has started (this
  May if now is in May); ``last May`` -> the most recent May before the current
  month. ``early``/``mid``/``late`` -> days 1-10 / 11-20 / 21-end. A month name needs a
  cue (a day, a year, or in/during/since/throughout/back in/last/this/of or a part);
  the word "may" only counts as a month when written "May".
- Dates without a year -> the most recent such date not after today (29 Feb ->
  the latest leap day). ``5/8/2023`` is US month/day/year; when the first number
  cannot be a month (``13/5/2023``) it is read day/month. ISO ``2023-05-08``.
- Years need a cue (in/back in/during/since/throughout/year); ``early|mid|late
  2022`` -> Jan-Apr / May-Aug / Sep-Dec; ``the 90s`` -> the decade.
- Seasons are northern-hemisphere meteorological: spring Mar-May, summer
  Jun-Aug, autumn/fall Sep-Nov, winter Dec-Feb; ``winter 2023`` is the one whose
  January is in 2023. ``last summer`` -> the latest summer already over;
  ``this summer`` -> the latest one that has started.
- ``since X`` extends X's range to the end of today.
- Future references (``tomorrow``, ``next Monday``, ``coming weeks``, ``every
  Friday``) are consumed and give no range, so they are not misread as past ones.
- Not covered: holidays, clock times, bare ``the 8th``, D.M.Y with dots.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["TimeRange", "resolve", "resolve_all"]


@dataclass(frozen=True)
class TimeRange:
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive
    phrase: str  # the matched text, e.g. "last week"

    def __contains__(self, ts: float) -> bool:
        return self.start <= ts < self.end


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
_SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
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
# Replaces claimed text: not a word char, not whitespace, so nothing matches across it.
_MASK = "\x00"


# --- calendar helpers -------------------------------------------------------

def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), _add_months(date(year, month, 1), 1)


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


def _season_span(name: str, year: int) -> tuple[date, date]:
    if name == "winter":
        return date(year - 1, 12, 1), date(year, 3, 1)
    m = _SEASON_START[name]
    return date(year, m, 1), date(year, m + 3, 1)


def _two_digit_year(yy: int, today: date) -> int:
    return 2000 + yy if 2000 + yy <= today.year else 1900 + yy


class _Ctx:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.tz = now.tzinfo
        self.today = now.date()
        self.monday = self.today - timedelta(days=self.today.weekday())

    def midnight(self, d: date) -> datetime:
        naive = datetime(d.year, d.month, d.day)
        localize = getattr(self.tz, "localize", None)  # pytz zones need localize()
        return localize(naive) if localize else naive.replace(tzinfo=self.tz)

    def point(self, x: date) -> datetime:
        return x if isinstance(x, datetime) else self.midnight(x)

    def day(self, back: int) -> tuple[date, date]:
        d = self.today - timedelta(days=back)
        return d, d + timedelta(days=1)

    def recent_date(self, month: int, day: int) -> date:
        """The latest month/day not after today (a leap day may be years back)."""
        for year in range(self.today.year, self.today.year - 9, -1):
            try:
                d = date(year, month, day)
            except ValueError:
                continue
            if d <= self.today:
                return d
        raise ValueError("no such date")

    def recent_month_year(self, month: int, *, strictly_before: bool) -> int:
        cur = self.today.month
        started = month < cur if strictly_before else month <= cur
        return self.today.year if started else self.today.year - 1


_Span = tuple[date, date]  # datetime is a date too: exact instants pass through
_Handler = Callable[[re.Match[str], _Ctx], _Span | None]


# --- handlers ---------------------------------------------------------------

def _iso_date(m: re.Match[str], c: _Ctx) -> _Span:
    d = date(int(m["y"]), int(m["m"]), int(m["d"]))
    return d, d + timedelta(days=1)


def _slash_date(m: re.Match[str], c: _Ctx) -> _Span:
    a, b, y = int(m["a"]), int(m["b"]), int(m["y"])
    if len(m["y"]) == 2:
        y = _two_digit_year(y, c.today)
    month, day = (a, b) if a <= 12 else (b, a)
    d = date(y, month, day)
    return d, d + timedelta(days=1)


def _named_date(m: re.Match[str], c: _Ctx) -> _Span | None:
    month = _month_num(m["mon"])
    if month is None:
        return None
    day = int(m["d"])
    d = date(int(m["y"]), month, day) if m["y"] else c.recent_date(month, day)
    return d, d + timedelta(days=1)


def _day_before_yesterday(m: re.Match[str], c: _Ctx) -> _Span:
    return c.day(2)


def _before_last(m: re.Match[str], c: _Ctx) -> _Span:
    unit = m["unit"].lower()
    if unit == "week":
        return c.monday - timedelta(days=14), c.monday - timedelta(days=7)
    if unit == "weekend":
        return c.monday - timedelta(days=9), c.monday - timedelta(days=7)
    if unit == "month":
        first = c.today.replace(day=1)
        return _add_months(first, -2), _add_months(first, -1)
    return date(c.today.year - 2, 1, 1), date(c.today.year - 1, 1, 1)


def _rolling(m: re.Match[str], c: _Ctx) -> _Span:
    n = _count(m["n"])[1] if m["n"] else 1
    unit = m["unit"].lower()
    if unit in ("minute", "hour"):
        step = timedelta(minutes=1) if unit == "minute" else timedelta(hours=1)
        return c.now - n * step, c.now
    if unit == "day":
        start = c.today - timedelta(days=n)
    elif unit == "week":
        start = c.today - timedelta(days=7 * n)
    else:
        start = _add_months(c.today, -n * (12 if unit == "year" else 1))
    return start, c.today + timedelta(days=1)


def _ago(m: re.Match[str], c: _Ctx) -> _Span:
    lo, hi = _count(m["n"]) if m["n"] else (1, 2)  # no count: "a day or two ago"
    unit = m["unit"].lower()
    if unit in ("minute", "hour"):
        step = timedelta(minutes=1) if unit == "minute" else timedelta(hours=1)
        return c.now - (hi + 1) * step, c.now - (lo - 1) * step
    if unit == "day":
        return c.today - timedelta(days=hi), c.today - timedelta(days=lo - 1)
    months = {"week": 0, "month": 1, "year": 12}[unit]

    def anchor(k: int) -> date:
        if unit == "week":
            return c.today - timedelta(days=7 * k)
        return _add_months(c.today, -months * k)

    if m["exact"]:
        return anchor(hi), anchor(lo) + timedelta(days=1)
    if unit == "week":
        return anchor(hi) - timedelta(days=3), anchor(lo) + timedelta(days=4)
    if unit == "month":
        return anchor(hi) - timedelta(days=15), anchor(lo) + timedelta(days=16)
    return _add_months(anchor(hi), -6), _add_months(anchor(lo), 6)


def _calendar(m: re.Match[str], c: _Ctx) -> _Span:
    which = " ".join(m["which"].lower().split())
    unit = m["unit"].lower()
    back = 1 if which in ("last", "this past") else 0
    if unit == "week":
        start = c.monday - timedelta(days=7 * back)
        return start, start + timedelta(days=7)
    if unit == "weekend":
        # The current weekend only once it has begun; otherwise the one just gone.
        if back == 0 and c.today.weekday() >= 5:
            return c.monday + timedelta(days=5), c.monday + timedelta(days=7)
        return c.monday - timedelta(days=2), c.monday
    if unit == "month":
        first = _add_months(c.today.replace(day=1), -back)
        return first, _add_months(first, 1)
    year = c.today.year - back
    return date(year, 1, 1), date(year + 1, 1, 1)


def _month(m: re.Match[str], c: _Ctx) -> _Span | None:
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
    start, end = _month_span(year, month)
    if m["part"]:
        first, last = _PART_DAYS[m["part"].split()[0].lower()]
        last = min(last, calendar.monthrange(year, month)[1])
        start, end = date(year, month, first), date(year, month, last) + timedelta(days=1)
    return start, end


def _season(m: re.Match[str], c: _Ctx) -> _Span | None:
    name = m["s"].lower()
    mod = " ".join((m["mod"] or "").lower().split())
    if m["y"]:
        return _season_span(name, int(m["y"]))
    if mod not in ("last", "this past", "past", "this", "over the", "during the"):
        return None
    ended = mod in ("last", "this past", "past")
    for year in range(c.today.year + 1, c.today.year - 3, -1):
        start, end = _season_span(name, year)
        if (end <= c.today) if ended else (start <= c.today):
            return start, end
    return None


def _decade(m: re.Match[str], c: _Ctx) -> _Span:
    dec = int(m["dec"])
    if dec < 100:
        dec = _two_digit_year(dec, c.today)
    return date(dec, 1, 1), date(dec + 10, 1, 1)


def _year(m: re.Match[str], c: _Ctx) -> _Span | None:
    year = int(m["y"])
    if not 1900 <= year <= 2100:  # "in 1500 words" is not a year
        return None
    trig = m["trig"].lower()
    if trig in _YEAR_PART_MONTHS:
        lo, hi = _YEAR_PART_MONTHS[trig]
        return date(year, lo, 1), _add_months(date(year, lo, 1), hi - lo)
    return date(year, 1, 1), date(year + 1, 1, 1)


def _weekday(m: re.Match[str], c: _Ctx) -> _Span:
    wd = _WEEKDAYS.index(m["wd"].lower())
    mod = " ".join((m["mod"] or "").lower().split())
    if mod == "this" and wd <= c.today.weekday():
        return c.day(c.today.weekday() - wd)
    return c.day((c.today.weekday() - wd) % 7 or 7)


def _fixed(back_lo: int, back_hi: int) -> _Handler:
    """Days back_hi..back_lo before today (0 = today), inclusive."""

    def handler(m: re.Match[str], c: _Ctx) -> _Span:
        return c.today - timedelta(days=back_hi), c.today - timedelta(days=back_lo - 1)

    return handler


# --- rules, most specific first ---------------------------------------------

@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    handler: _Handler | None  # None: a future reference, claimed but giving no range


def _rule(pattern: str, handler: _Handler | None) -> _Rule:
    return _Rule(re.compile(pattern, re.IGNORECASE), handler)


_RULES: list[_Rule] = [
    _rule(rf"\b(?:next|coming|upcoming|following|every)\s+"
          rf"(?:\d+\s+|few\s+|couple\s+(?:of\s+)?)?"
          rf"(?:days?|weeks?|weekends?|months?|years?|(?:{_WD_NAMES})\b|(?:{_MONTH_NAMES})\b|"
          rf"(?:{_SEASONS})\b)"
          r"|\btomorrow\b|\btmrw\b", None),
    _rule(r"\b(?P<y>\d{4})([-/.])(?P<m>\d{1,2})\2(?P<d>\d{1,2})\b", _iso_date),
    _rule(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\d/])", _slash_date),
    _rule(rf"\b(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?{_MON}(?:,?\s+{_YEAR})?",
          _named_date),
    _rule(rf"\b{_MON}\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}\b(?!:)(?:,?\s+{_YEAR})?",
          _named_date),
    _rule(r"\b(?:the\s+)?day\s+before\s+yesterday\b", _day_before_yesterday),
    _rule(r"\b(?:the\s+)?(?P<unit>weekend|week|month|year)\s+before\s+last\b", _before_last),
    _rule(rf"\b(?:(?:in|over|during|within|for)\s+)?(?:the\s+)?(?:last|past)\s+{_NUM}\s*"
          r"(?P<unit>minute|hour|day|week|month|year)s?\b", _rolling),
    _rule(r"\b(?:(?:(?:in|over|during|within|for)\s+)?the\s+(?:last|past)|(?:this\s+)?past)\s+"
          r"(?P<n>)?(?P<unit>day|week|month|year)\b(?!\s+of\b)", _rolling),
    _rule(r"\ba\s+(?P<unit>day|week|month|year)\s+or\s+two\s+ago(?P<n>)?(?P<exact>)?\b", _ago),
    _rule(rf"\b{_NUM}\s*(?P<unit>minute|hour|day|week|month|year)s?(?:\s+or\s+so)?\s+"
          r"(?:ago|back)(?P<exact>\s+today)?\b", _ago),
    _rule(r"\b(?P<which>last|this\s+past|this)\s+(?P<unit>weekend|week|month|year)\b(?!\s+of\b)",
          _calendar),
    _rule(rf"\b(?:(?P<trig>back\s+in|in|during|since|throughout|last|this\s+past|this|of)\s+)?"
          r"(?:(?:the\s+)?(?P<part>early|mid|late|beginning\s+of|start\s+of|middle\s+of|end\s+of)"
          rf"[\s-]+)?{_MON}(?:,?\s+(?:of\s+)?{_YEAR})?", _month),
    _rule(r"\b(?:(?P<mod>last|this\s+past|this|past|over\s+the|during\s+the)\s+)?"
          rf"(?P<s>{_SEASONS})\b(?:\s+(?:of\s+)?{_YEAR})?", _season),
    _rule(r"\b(?:back\s+in|in|during|since)\s+the\s+['\u2019]?(?P<dec>(?:19|20)?\d0)['\u2019]?s\b",
          _decade),
    _rule(rf"\b(?P<trig>back\s+in|in|during|since|throughout|the\s+year|year|early|mid|late)"
          rf"[\s-]+{_YEAR}(?![-/.:]\d)", _year),
    _rule(rf"\b(?:(?P<mod>on|last|this\s+past|this|past|since)\s+)?{_WD}", _weekday),
    _rule(r"\b(?:yesterday|last\s+night)\b", _fixed(1, 1)),
    _rule(r"\b(?:(?:earlier\s+)?today|tonight|this\s+(?:morning|afternoon|evening))\b",
          _fixed(0, 0)),
    _rule(r"\bthe\s+other\s+(?:day|night)\b", _fixed(1, 14)),
    _rule(r"\b(?:recently|lately|of\s+late)\b", _fixed(0, 13)),
]


# --- entry points -----------------------------------------------------------

def resolve_all(text: str, *, now: datetime) -> list[TimeRange]:
    """Every time reference in ``text``, in reading order."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    ctx = _Ctx(now)
    work = text
    found: list[tuple[int, TimeRange]] = []
    for rule in _RULES:
        claimed: list[tuple[int, int]] = []
        for m in rule.pattern.finditer(work):
            if rule.handler is None:
                claimed.append(m.span())
                continue
            try:
                span = rule.handler(m, ctx)
            except (ValueError, OverflowError):  # impossible dates, absurd counts
                span = None
            if span is None:
                continue
            claimed.append(m.span())
            found.append((m.start(), _make_range(text, m, span, ctx)))
        for s, e in claimed:
            work = work[:s] + _MASK * (e - s) + work[e:]
    found.sort(key=lambda item: item[0])
    return [r for _, r in found]


def resolve(text: str, *, now: datetime) -> TimeRange | None:
    """The span ``text`` refers to, said at ``now``; the union when there are several."""
    ranges = resolve_all(text, now=now)
    if not ranges:
        return None
    if len(ranges) == 1:
        return ranges[0]
    return TimeRange(
        start=min(r.start for r in ranges),
        end=max(r.end for r in ranges),
        phrase=", ".join(r.phrase for r in ranges),
    )


def _make_range(text: str, m: re.Match[str], span: _Span, ctx: _Ctx) -> TimeRange:
    start, end = ctx.point(span[0]), ctx.point(span[1])
    begin = m.start()
    since = _SINCE_BEFORE.search(text, 0, begin)
    if since or m.group(0).lower().startswith("since"):
        # "since May": from then up to and including today.
        end = max(end, ctx.midnight(ctx.today + timedelta(days=1)))
        if since:
            begin = since.start()
    phrase = " ".join(text[begin:m.end()].split())
    return TimeRange(start=start.timestamp(), end=end.timestamp(), phrase=phrase)
