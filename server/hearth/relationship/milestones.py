"""Round anniversaries of the day a person and a character first talked.

Days are the person's local days. The rounds are the ones people mark: 100 days (a
custom in Korea and Japan, where many of Hearth's users live), 1,000 days, and every
year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

ROUND_DAYS = (100, 1000)


@dataclass(frozen=True)
class Milestone:
    kind: str  # "first_conversation" or "anniversary"
    day: date
    label: str  # "100 days", "1 year", ...


def local_day(ts: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, zone).date()


def midnight(day: date, zone: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February: marked on 28 February
        return day.replace(year=day.year + years, day=28)


def milestones(first: date, *, until: date) -> list[Milestone]:
    """The first conversation and every round anniversary of it up to `until`, in order."""
    found = [Milestone("first_conversation", first, "first conversation")]
    for n in ROUND_DAYS:
        found.append(Milestone("anniversary", first + timedelta(days=n), f"{n:,} days"))
    years = 1
    while (day := _years_later(first, years)) <= until + timedelta(days=366):
        found.append(Milestone("anniversary", day, "1 year" if years == 1 else f"{years} years"))
        years += 1
    return sorted((m for m in found if m.day <= until), key=lambda m: m.day)


def milestone_on(first: date, today: date) -> Milestone | None:
    """The anniversary that falls on `today`, if one does."""
    for m in milestones(first, until=today):
        if m.day == today and m.kind == "anniversary":
            return m
    return None


def next_milestone(first: date, *, after: date) -> Milestone:
    """The first anniversary after `after` (shown as upcoming)."""
    later = milestones(first, until=after + timedelta(days=1200))
    return next(m for m in later if m.day > after and m.kind == "anniversary")
