"""Future time expressions, resolved against when the message was said in the person's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hearth.relationship.when import find_due, find_shift

SEOUL = ZoneInfo("Asia/Seoul")
NY = ZoneInfo("America/New_York")
# Monday 2025-05-12, 21:30 in Seoul (12:30 UTC, still Monday in UTC too).
MON = datetime(2025, 5, 12, 21, 30, tzinfo=SEOUL)


def local(due_at: float, tz: ZoneInfo = SEOUL) -> str:
    return datetime.fromtimestamp(due_at, tz).strftime("%a %Y-%m-%d %H:%M")


CASES = [
    ("tomorrow", "Tue 2025-05-13 00:00", True),
    ("tmrw at 10", "Tue 2025-05-13 10:00", False),
    ("tonight", "Mon 2025-05-12 00:00", True),
    ("this evening", "Mon 2025-05-12 00:00", True),
    ("later today", "Mon 2025-05-12 00:00", True),
    ("the day after tomorrow at 6am", "Wed 2025-05-14 06:00", False),
    ("on Friday", "Fri 2025-05-16 00:00", True),
    ("this Friday", "Fri 2025-05-16 00:00", True),
    ("next Friday", "Fri 2025-05-23 00:00", True),
    ("next Tuesday morning", "Tue 2025-05-20 00:00", True),
    ("Friday evening at 6:30", "Fri 2025-05-16 18:30", False),
    ("next week", "Mon 2025-05-19 00:00", True),
    ("this weekend", "Sat 2025-05-17 00:00", True),
    ("next weekend", "Sat 2025-05-24 00:00", True),
    ("in 3 days", "Thu 2025-05-15 00:00", True),
    ("in two weeks", "Mon 2025-05-26 00:00", True),
    ("in a couple of days", "Wed 2025-05-14 00:00", True),
    ("in 2 months", "Sat 2025-07-12 00:00", True),
    ("in 2 hours", "Mon 2025-05-12 23:30", False),
    ("on 3 May", "Sun 2026-05-03 00:00", True),  # already past this year: next year
    ("May 13th", "Tue 2025-05-13 00:00", True),
    ("the 3rd of June", "Tue 2025-06-03 00:00", True),
    ("on the 20th", "Tue 2025-05-20 00:00", True),
    ("2027-05-03", "Mon 2027-05-03 00:00", True),
    ("on 6/3", "Tue 2025-06-03 00:00", True),  # month/day, as timeref reads slashes
    ("on 13/6", "Fri 2025-06-13 00:00", True),  # 13 cannot be a month: day/month
    ("next month", "Sun 2025-06-01 00:00", True),
    ("tomorrow at 10", "Tue 2025-05-13 10:00", False),
    ("tomorrow at 10am", "Tue 2025-05-13 10:00", False),
    ("tomorrow at 3:30 pm", "Tue 2025-05-13 15:30", False),
    ("tomorrow at noon", "Tue 2025-05-13 12:00", False),
    ("tomorrow at 15:30", "Tue 2025-05-13 15:30", False),
    ("meeting Jo tomorrow at 3", "Tue 2025-05-13 15:00", False),  # 1-6 bare: afternoon
    ("dinner tomorrow at 7", "Tue 2025-05-13 19:00", False),  # dinner: evening
    ("at 10", "Tue 2025-05-13 10:00", False),  # 10:00 has passed today: tomorrow's
    ("at 11pm", "Mon 2025-05-12 23:00", False),  # still ahead today
    # A weekday said with a date: the date decides ("saturday the 17th" is that Saturday).
    ("saturday the 17th", "Sat 2025-05-17 00:00", True),
    ("on friday, the 9th of january", "Fri 2026-01-09 00:00", True),
    ("wednesday the 21st at 10.30am", "Wed 2025-05-21 10:30", False),
    ("sat 17th", "Sat 2025-05-17 00:00", True),
    ("thursday 15 may", "Thu 2025-05-15 00:00", True),
    # The weekday picks among the next months' 16ths; none near: the nearest 16th.
    ("friday the 13th", "Fri 2025-06-13 00:00", True),
    ("on may 20th", "Tue 2025-05-20 00:00", True),  # lowercase month beside a day
    ("the 7th of may", "Thu 2026-05-07 00:00", True),
    ("on sat", "Sat 2025-05-17 00:00", True),
    ("next wed", "Wed 2025-05-21 00:00", True),
    ("on valentine's day", "Sat 2026-02-14 00:00", True),
    ("for christmas", "Thu 2025-12-25 00:00", True),
    ("on new year's eve", "Wed 2025-12-31 00:00", True),
    # Clock times as people type them.
    ("tomorrow at half 3", "Tue 2025-05-13 15:30", False),  # British: 3:30
    ("half past seven tomorrow evening", "Tue 2025-05-13 19:30", False),
    ("quarter to 5 tomorrow", "Tue 2025-05-13 16:45", False),
    ("quarter past 9 tomorrow morning", "Tue 2025-05-13 09:15", False),
    ("tomorrow at 10.30", "Tue 2025-05-13 10:30", False),
    ("tomorrow around 4", "Tue 2025-05-13 16:00", False),
    ("party tomorrow night from 8", "Tue 2025-05-13 20:00", False),
    ("tomorrow at 8ish", "Tue 2025-05-13 08:00", False),
    ("drinks tmrw 7ish", "Tue 2025-05-13 19:00", False),
    ("dinner at eight tomorrow", "Tue 2025-05-13 20:00", False),
    # An ordinal without "the", as often typed.
    ("on 21st at 3pm", "Wed 2025-05-21 15:00", False),
    ("moved to 23rd, same time", "Fri 2025-05-23 00:00", True),
    ("until 2nd", "Mon 2025-06-02 00:00", True),
]


@pytest.mark.parametrize(("text", "want", "all_day"), CASES, ids=[c[0] for c in CASES])
def test_resolves_in_the_persons_zone(text: str, want: str, all_day: bool) -> None:
    due = find_due(text, now=MON)
    assert due is not None
    assert (local(due.at), due.all_day) == (want, all_day)


def test_all_day_is_local_midnight_not_utc() -> None:
    # 07:30 Tuesday in Seoul is still Monday in UTC: "tomorrow" is Wednesday here.
    now = datetime(2025, 5, 13, 7, 30, tzinfo=SEOUL)
    due = find_due("tomorrow", now=now)
    assert due is not None and due.all_day
    assert due.at == datetime(2025, 5, 14, tzinfo=SEOUL).timestamp()
    assert datetime.fromtimestamp(due.at, SEOUL).hour == 0


def test_the_same_words_give_different_instants_in_different_zones() -> None:
    instant = MON.astimezone(NY)  # Monday 08:30 in New York
    seoul, ny = find_due("tomorrow at 10", now=MON), find_due("tomorrow at 10", now=instant)
    assert seoul is not None and ny is not None
    assert local(seoul.at) == "Tue 2025-05-13 10:00"
    assert local(ny.at, NY) == "Tue 2025-05-13 10:00"
    assert ny.at - seoul.at == 13 * 3600


def test_dst_keeps_the_wall_clock_time() -> None:
    # Saturday 2025-03-08 in New York; clocks go forward on Sunday the 9th.
    due = find_due("on Monday at 9am", now=datetime(2025, 3, 8, 12, tzinfo=NY))
    assert due is not None and local(due.at, NY) == "Mon 2025-03-10 09:00"


def test_phrase_is_the_words_said() -> None:
    due = find_due("my interview is tomorrow at 10, wish me luck", now=MON)
    assert due is not None and due.phrase == "tomorrow at 10"


@pytest.mark.parametrize("text", [
    "I go running every morning", "on Fridays I swim", "every Friday",
    "I saw her last Tuesday", "yesterday was long", "what a day", "I ate 1/2 of the pizza",
    "this morning at 9",  # already past at 21:30
    "in 2023",
    "merry christmas!", "half of them came", "at one point", "sells at 2.50 each",
    "I sat on the sofa", "may I ask something", "the sun is out",
    # Habits name their days in lists; ordinals that are ranks, not dates.
    "every monday and thursday", "every mon, wed and fri", "every other tuesday",
    "for 3rd time", "came to 2nd place", "on 3rd floor",
])
def test_no_future_reference(text: str) -> None:
    assert find_due(text, now=MON) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        find_due("tomorrow", now=datetime(2025, 5, 12, 12))


@pytest.mark.parametrize(("text", "delta"), [
    ("the trip is pushed back a week", timedelta(weeks=1)),
    ("they postponed it by two days", timedelta(days=2)),
    ("the interview's been moved up a day", timedelta(days=-1)),
    ("it got delayed 30 minutes", timedelta(minutes=30)),
    ("the trip is moved to Friday", None),
])
def test_shift(text: str, delta: timedelta | None) -> None:
    assert find_shift(text) == delta


@pytest.mark.parametrize(("text", "want"), [
    ("tomorrow from 2 people", "Tue 2025-05-13 00:00"),  # a count is not a clock time
    ("tomorrow, half an hour early", "Tue 2025-05-13 00:00"),
    ("tomorrow, it costs 2.50 each", "Tue 2025-05-13 00:00"),
    ("at one point tomorrow", "Tue 2025-05-13 00:00"),
])
def test_numbers_that_are_not_clock_times(text: str, want: str) -> None:
    due = find_due(text, now=MON)
    assert due is not None and due.all_day and local(due.at) == want


@pytest.mark.parametrize("text", ["i sent it this morning", "this afternoon", "this morning at 9"])
def test_a_part_of_today_that_is_over_is_not_ahead(text: str) -> None:
    evening = datetime(2025, 5, 12, 18, 30, tzinfo=SEOUL)
    assert find_due(text, now=evening) is None


def test_a_part_of_today_still_to_come_is_today() -> None:
    due = find_due("this afternoon", now=datetime(2025, 5, 12, 9, tzinfo=SEOUL))
    assert due is not None and local(due.at) == "Mon 2025-05-12 00:00"
