"""What every language's time words share: the calendar, the reading context, a rule.

A language module (``en``, ``ko``, ``ja``) is a list of rules, most specific first.
A rule is a pattern and a handler that turns a match into a span of days (or of
instants), or ``None`` for a future or habitual reference, which is claimed so it
is not misread as a past one. The spans below are the conventions all languages
follow, so "지난주" and "last week" are the same week.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["Ctx", "Language", "Rule", "Span", "add_months", "ago", "calendar_unit",
           "month_span", "rolling", "rule", "season_span", "weekday_back"]


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), add_months(date(year, month, 1), 1)


def month_part(year: int, month: int, days: tuple[int, int] | None) -> tuple[date, date]:
    """A month, or the days `days` (first, last) of it: the start, middle or end of it."""
    start, end = month_span(year, month)
    if days is None:
        return start, end
    return date(year, month, days[0]), min(end, start + timedelta(days=days[1]))


def year_span(m: re.Match[str], c: Ctx) -> Span | None:
    """A year written in digits (the `y` group), within reason."""
    year = int(m["y"])
    return (date(year, 1, 1), date(year + 1, 1, 1)) if 1900 <= year <= 2100 else None


SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}


def season_span(name: str, year: int) -> tuple[date, date]:
    """A northern meteorological season; winter 2023 is the one whose January is in 2023."""
    if name == "winter":
        return date(year - 1, 12, 1), date(year, 3, 1)
    m = SEASON_START[name]
    return date(year, m, 1), date(year, m + 3, 1)


class Ctx:
    """The moment a message was said: its zone, its day, the Monday of its week."""

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

    def recent_season(self, name: str, *, ended: bool) -> tuple[date, date] | None:
        """The latest such season already over (``ended``) or already begun."""
        for year in range(self.today.year + 1, self.today.year - 3, -1):
            start, end = season_span(name, year)
            if (end <= self.today) if ended else (start <= self.today):
                return start, end
        return None


Span = tuple[date, date]  # datetime is a date too: exact instants pass through
Handler = Callable[[re.Match[str], Ctx], Span | None]


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    handler: Handler | None  # None: a future reference, claimed but giving no range


def rule(pattern: str, handler: Handler | None) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE), handler)


@dataclass(frozen=True)
class Language:
    code: str  # "en", "ko", "ja"
    rules: list[Rule]  # most specific first
    script: re.Pattern[str] | None  # its rules run only on text with this; None: always
    since_before: re.Pattern[str] | None = None  # "since" ending just before a reading
    since_after: re.Pattern[str] | None = None  # ... or starting just after it ("부터")


# --- spans every language means the same by ---------------------------------

def days_back(back_lo: int, back_hi: int) -> Handler:
    """A rule's handler for days back_hi..back_lo before today (0 = today), inclusive."""

    def handler(m: re.Match[str], c: Ctx) -> Span:
        return c.today - timedelta(days=back_hi), c.today - timedelta(days=back_lo - 1)

    return handler


def calendar_back(unit: str, back: int) -> Handler:
    """A rule's handler for the calendar week/month/... `back` units before this one."""

    def handler(m: re.Match[str], c: Ctx) -> Span:
        return calendar_unit(c, unit, back)

    return handler


def ago(c: Ctx, unit: str, lo: int, hi: int, *, exact: bool = False) -> Span:
    """``N units ago`` (N from lo to hi): the day itself; about a week, month or year
    around it; for hours and minutes a window around the instant."""
    if unit in ("minute", "hour"):
        step = timedelta(minutes=1) if unit == "minute" else timedelta(hours=1)
        return c.now - (hi + 1) * step, c.now - (lo - 1) * step
    if unit == "day":
        return c.today - timedelta(days=hi), c.today - timedelta(days=lo - 1)

    def anchor(k: int) -> date:
        if unit == "week":
            return c.today - timedelta(days=7 * k)
        return add_months(c.today, -k * (12 if unit == "year" else 1))

    if exact:
        return anchor(hi), anchor(lo) + timedelta(days=1)
    if unit == "week":
        return anchor(hi) - timedelta(days=3), anchor(lo) + timedelta(days=4)
    if unit == "month":
        return anchor(hi) - timedelta(days=15), anchor(lo) + timedelta(days=16)
    return add_months(anchor(hi), -6), add_months(anchor(lo), 6)


def rolling(c: Ctx, unit: str, n: int) -> Span:
    """``the past N units``: a window ending with today (with now, for hours)."""
    if unit in ("minute", "hour"):
        step = timedelta(minutes=1) if unit == "minute" else timedelta(hours=1)
        return c.now - n * step, c.now
    if unit == "day":
        start = c.today - timedelta(days=n)
    elif unit == "week":
        start = c.today - timedelta(days=7 * n)
    else:
        start = add_months(c.today, -n * (12 if unit == "year" else 1))
    return start, c.today + timedelta(days=1)


def calendar_unit(c: Ctx, unit: str, back: int) -> Span:
    """This (0), the last (1) or the one before last (2) calendar week, weekend, month
    or year. Weeks start on Monday; the current weekend counts only once it has begun,
    before that "this weekend" is the one just gone."""
    if unit == "week":
        start = c.monday - timedelta(days=7 * back)
        return start, start + timedelta(days=7)
    if unit == "weekend":
        if back == 0 and c.today.weekday() >= 5:
            return c.monday + timedelta(days=5), c.monday + timedelta(days=7)
        end = c.monday - timedelta(days=7 * (max(back, 1) - 1))
        return end - timedelta(days=2), end
    if unit == "month":
        first = add_months(c.today.replace(day=1), -back)
        return first, add_months(first, 1)
    year = c.today.year - back
    return date(year, 1, 1), date(year + 1, 1, 1)


def weekday_back(c: Ctx, wd: int, *, this_week: bool = False, weeks_back: int | None = None
                 ) -> Span:
    """A weekday (Monday 0): the most recent one strictly before today; ``this_week``:
    the one of this week if not after today; ``weeks_back``: the one of that week."""
    if weeks_back is not None:
        return c.day((c.today - (c.monday - timedelta(days=7 * weeks_back - wd))).days)
    if this_week and wd <= c.today.weekday():
        return c.day(c.today.weekday() - wd)
    return c.day((c.today.weekday() - wd) % 7 or 7)
