"""Time references resolved against when the message was said, not the wall clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

import pytest

from hearth.memory.timeref import TimeRange, resolve, resolve_all

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    LA: tzinfo | None = ZoneInfo("America/Los_Angeles")
except (ImportError, ZoneInfoNotFoundError):  # no tz database on this box
    LA = None

UTC = UTC
IST = timezone(timedelta(hours=5, minutes=30))
ZONES = [pytest.param(UTC, id="utc"), pytest.param(IST, id="ist")]
needs_tzdb = pytest.mark.skipif(LA is None, reason="no IANA time zone database")

D = date


def at(day: date, tz: tzinfo, hour: int = 14, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def span(tz: tzinfo, first: date, end: date) -> tuple[float, float]:
    """Local midnights of ``first`` and ``end`` (exclusive) as epoch seconds."""
    return at(first, tz, 0).timestamp(), at(end, tz, 0).timestamp()


def days(r: TimeRange | None, tz: tzinfo) -> tuple[date, date] | None:
    """A range as local calendar dates, for readable assertions on whole-day spans."""
    if r is None:
        return None
    return (datetime.fromtimestamp(r.start, tz).date(), datetime.fromtimestamp(r.end, tz).date())


# Said on Wednesday 2023-05-10 at 14:00 local time.
WED = D(2023, 5, 10)

PHRASES = [
    # today / yesterday
    ("what did we talk about today?", D(2023, 5, 10), D(2023, 5, 11)),
    ("tonight", D(2023, 5, 10), D(2023, 5, 11)),
    ("This morning I felt awful", D(2023, 5, 10), D(2023, 5, 11)),
    ("earlier this afternoon", D(2023, 5, 10), D(2023, 5, 11)),
    ("this evening", D(2023, 5, 10), D(2023, 5, 11)),
    ("what did I tell you yesterday?", D(2023, 5, 9), D(2023, 5, 10)),
    ("Last night was rough.", D(2023, 5, 9), D(2023, 5, 10)),
    ("the day before yesterday", D(2023, 5, 8), D(2023, 5, 9)),
    # N units ago
    ("3 days ago", D(2023, 5, 7), D(2023, 5, 8)),
    ("a day ago", D(2023, 5, 9), D(2023, 5, 10)),
    ("two weeks ago", D(2023, 4, 23), D(2023, 4, 30)),
    ("a week ago", D(2023, 4, 30), D(2023, 5, 7)),
    ("a week ago today", D(2023, 5, 3), D(2023, 5, 4)),
    ("a month ago", D(2023, 3, 26), D(2023, 4, 26)),
    ("three months ago", D(2023, 1, 26), D(2023, 2, 26)),
    ("a year ago", D(2021, 11, 10), D(2022, 11, 10)),
    ("a couple of days ago", D(2023, 5, 7), D(2023, 5, 10)),
    ("couple days ago", D(2023, 5, 7), D(2023, 5, 10)),
    ("a few days ago", D(2023, 5, 5), D(2023, 5, 9)),
    ("several days back", D(2023, 5, 2), D(2023, 5, 8)),
    ("a day or two ago", D(2023, 5, 8), D(2023, 5, 10)),
    ("a week or so ago", D(2023, 4, 30), D(2023, 5, 7)),
    # calendar units, weeks start on Monday
    ("last week", D(2023, 5, 1), D(2023, 5, 8)),
    ("earlier this week", D(2023, 5, 8), D(2023, 5, 15)),
    ("last weekend", D(2023, 5, 6), D(2023, 5, 8)),
    ("this weekend", D(2023, 5, 6), D(2023, 5, 8)),
    ("this past weekend", D(2023, 5, 6), D(2023, 5, 8)),
    ("the week before last", D(2023, 4, 24), D(2023, 5, 1)),
    ("last month", D(2023, 4, 1), D(2023, 5, 1)),
    ("this month", D(2023, 5, 1), D(2023, 6, 1)),
    ("the month before last", D(2023, 3, 1), D(2023, 4, 1)),
    ("last year", D(2022, 1, 1), D(2023, 1, 1)),
    ("this year", D(2023, 1, 1), D(2024, 1, 1)),
    # rolling windows
    ("in the last 3 days", D(2023, 5, 7), D(2023, 5, 11)),
    ("the past week", D(2023, 5, 3), D(2023, 5, 11)),
    ("over the last month", D(2023, 4, 10), D(2023, 5, 11)),
    ("the past few weeks", D(2023, 4, 5), D(2023, 5, 11)),
    ("last two years", D(2021, 5, 10), D(2023, 5, 11)),
    # vague
    ("I've been sad recently", D(2023, 4, 27), D(2023, 5, 11)),
    ("lately", D(2023, 4, 27), D(2023, 5, 11)),
    ("the other day", D(2023, 4, 26), D(2023, 5, 10)),
    # weekdays: the most recent one before today
    ("on Monday", D(2023, 5, 8), D(2023, 5, 9)),
    ("monday", D(2023, 5, 8), D(2023, 5, 9)),
    ("last Tuesday", D(2023, 5, 9), D(2023, 5, 10)),
    ("last Wednesday", D(2023, 5, 3), D(2023, 5, 4)),
    ("on Thursday", D(2023, 5, 4), D(2023, 5, 5)),
    ("this Friday", D(2023, 5, 5), D(2023, 5, 6)),
    ("this Monday", D(2023, 5, 8), D(2023, 5, 9)),
    ("this past Sunday", D(2023, 5, 7), D(2023, 5, 8)),
    # months
    ("remember what happened in May?", D(2023, 5, 1), D(2023, 6, 1)),
    ("in may", None, None),  # lowercase "may" is never the month
    ("this May", D(2023, 5, 1), D(2023, 6, 1)),
    ("last May", D(2022, 5, 1), D(2022, 6, 1)),
    ("in April", D(2023, 4, 1), D(2023, 5, 1)),
    ("last April", D(2023, 4, 1), D(2023, 5, 1)),
    ("in June", D(2022, 6, 1), D(2022, 7, 1)),
    ("during the month of March", D(2023, 3, 1), D(2023, 4, 1)),
    ("May 2023", D(2023, 5, 1), D(2023, 6, 1)),
    ("in May of 2021", D(2021, 5, 1), D(2021, 6, 1)),
    ("Sept 2022", D(2022, 9, 1), D(2022, 10, 1)),
    ("back in Jan", D(2023, 1, 1), D(2023, 2, 1)),
    ("in Sept.", D(2022, 9, 1), D(2022, 10, 1)),
    ("early May", D(2023, 5, 1), D(2023, 5, 11)),
    ("mid-April", D(2023, 4, 11), D(2023, 4, 21)),
    ("late February", D(2023, 2, 21), D(2023, 3, 1)),
    ("at the end of March", D(2023, 3, 21), D(2023, 4, 1)),
    ("in early March 2020", D(2020, 3, 1), D(2020, 3, 11)),
    # dates
    ("8 May", D(2023, 5, 8), D(2023, 5, 9)),
    ("May 8th", D(2023, 5, 8), D(2023, 5, 9)),
    ("on the 8th of May", D(2023, 5, 8), D(2023, 5, 9)),
    ("May the 3rd", D(2023, 5, 3), D(2023, 5, 4)),
    ("8 May 2021", D(2021, 5, 8), D(2021, 5, 9)),
    ("May 8, 2021", D(2021, 5, 8), D(2021, 5, 9)),
    ("on Dec 25", D(2022, 12, 25), D(2022, 12, 26)),
    ("May 20", D(2022, 5, 20), D(2022, 5, 21)),  # not yet this year
    ("2023-05-08", D(2023, 5, 8), D(2023, 5, 9)),
    ("on 2021/12/31", D(2021, 12, 31), D(2022, 1, 1)),
    ("5/8/2023", D(2023, 5, 8), D(2023, 5, 9)),
    ("12/1/2022", D(2022, 12, 1), D(2022, 12, 2)),
    ("5/8/21", D(2021, 5, 8), D(2021, 5, 9)),
    ("25/12/2022", D(2022, 12, 25), D(2022, 12, 26)),  # cannot be m/d: read d/m
    # years and decades
    ("in 2022", D(2022, 1, 1), D(2023, 1, 1)),
    ("back in 2019", D(2019, 1, 1), D(2020, 1, 1)),
    ("during 2020", D(2020, 1, 1), D(2021, 1, 1)),
    ("early 2022", D(2022, 1, 1), D(2022, 5, 1)),
    ("late 2021", D(2021, 9, 1), D(2022, 1, 1)),
    ("in the 90s", D(1990, 1, 1), D(2000, 1, 1)),
    ("back in the 1980s", D(1980, 1, 1), D(1990, 1, 1)),
    # seasons, northern hemisphere
    ("last summer", D(2022, 6, 1), D(2022, 9, 1)),
    ("last winter", D(2022, 12, 1), D(2023, 3, 1)),
    ("this spring", D(2023, 3, 1), D(2023, 6, 1)),
    ("last fall", D(2022, 9, 1), D(2022, 12, 1)),
    ("the summer of 2019", D(2019, 6, 1), D(2019, 9, 1)),
    ("winter 2021", D(2020, 12, 1), D(2021, 3, 1)),
    # since: up to the end of today
    ("since Monday", D(2023, 5, 8), D(2023, 5, 11)),
    ("ever since March", D(2023, 3, 1), D(2023, 5, 11)),
    ("since last week", D(2023, 5, 1), D(2023, 5, 11)),
]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(("text", "first", "end"), PHRASES)
def test_phrase(text: str, first: date | None, end: date | None, tz: tzinfo) -> None:
    r = resolve(text, now=at(WED, tz))
    if first is None:
        assert r is None
        return
    assert end is not None
    assert r is not None, text
    assert (r.start, r.end) == span(tz, first, end), days(r, tz)


@pytest.mark.parametrize(
    ("word", "n"),
    [("one", 1), ("two", 2), ("three", 3), ("four", 4), ("five", 5), ("six", 6), ("seven", 7),
     ("eight", 8), ("nine", 9), ("ten", 10), ("eleven", 11), ("twelve", 12), ("an", 1)],
)
def test_number_words(word: str, n: int) -> None:
    unit = "days" if n > 1 else "day"
    r = resolve(f"{word} {unit} ago", now=at(WED, UTC))
    assert r is not None
    assert (r.start, r.end) == span(UTC, WED - timedelta(days=n), WED - timedelta(days=n - 1))
    digits = f"{n} {unit} ago"
    assert resolve(digits, now=at(WED, UTC)) == TimeRange(r.start, r.end, digits)


def test_hours_use_the_moment_not_midnight() -> None:
    now = at(WED, IST)
    r = resolve("in the past 24 hours", now=now)
    assert r is not None
    assert (r.start, r.end) == ((now - timedelta(hours=24)).timestamp(), now.timestamp())
    r = resolve("an hour ago", now=now)
    assert r is not None
    assert (r.start, r.end) == ((now - timedelta(hours=2)).timestamp(), now.timestamp())
    r = resolve("10 minutes ago", now=now)
    assert r is not None
    assert r.start == (now - timedelta(minutes=11)).timestamp()
    assert r.end == (now - timedelta(minutes=9)).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "I may go to the shops",
        "May I ask you something?",
        "This may take a while",
        "you may be right, I may not",
        "give me a second",
        "one day I'll visit Japan",
        "the last time we talked",
        "the last one was better",
        "I have 2 cats and 3 dogs",
        "we had to march through the rain",
        "my friend Jan says hi",
        "it's open 24/7",
        "I ate 3/4 of the cake",
        "see you tomorrow",
        "the day after tomorrow",
        "next Monday we go",
        "I'll do it next week",
        "in the coming weeks",
        "I swim every Friday",
        "on Mondays I rest",
        "in a few days",
        "one day",
        "in 1500 words or less",
        "the summer is hot",
        "a while",
        "",
    ],
)
def test_no_time_reference(text: str) -> None:
    assert resolve(text, now=at(WED, UTC)) is None


@pytest.mark.parametrize(
    ("text", "first", "end"),
    [
        ("last month", D(2023, 12, 1), D(2024, 1, 1)),
        ("the month before last", D(2023, 11, 1), D(2023, 12, 1)),
        ("in December", D(2023, 12, 1), D(2024, 1, 1)),
        ("in January", D(2024, 1, 1), D(2024, 2, 1)),
        ("last January", D(2023, 1, 1), D(2023, 2, 1)),
        ("Dec 25", D(2023, 12, 25), D(2023, 12, 26)),
        ("this month", D(2024, 1, 1), D(2024, 2, 1)),
        ("last year", D(2023, 1, 1), D(2024, 1, 1)),
        ("last week", D(2023, 12, 25), D(2024, 1, 1)),  # crosses the year
        ("the day before yesterday", D(2023, 12, 31), D(2024, 1, 1)),
        ("a month ago", D(2023, 11, 17), D(2023, 12, 18)),
        ("last winter", D(2022, 12, 1), D(2023, 3, 1)),  # the current one is not over
        ("this winter", D(2023, 12, 1), D(2024, 3, 1)),
        ("last summer", D(2023, 6, 1), D(2023, 9, 1)),
        ("in the 20s", D(2020, 1, 1), D(2030, 1, 1)),
    ],
)
@pytest.mark.parametrize("tz", ZONES)
def test_year_boundaries(text: str, first: date, end: date, tz: tzinfo) -> None:
    r = resolve(text, now=at(D(2024, 1, 2), tz))  # a Tuesday
    assert r is not None
    assert (r.start, r.end) == span(tz, first, end), days(r, tz)


@pytest.mark.parametrize(
    ("said", "text", "first", "end"),
    [
        (D(2024, 3, 1), "yesterday", D(2024, 2, 29), D(2024, 3, 1)),
        (D(2024, 3, 1), "Feb 29", D(2024, 2, 29), D(2024, 3, 1)),
        (D(2023, 5, 10), "Feb 29", D(2020, 2, 29), D(2020, 3, 1)),  # latest leap day
        (D(2024, 3, 10), "last February", D(2024, 2, 1), D(2024, 3, 1)),
        (D(2024, 3, 10), "late February", D(2024, 2, 21), D(2024, 3, 1)),
        (D(2023, 3, 10), "late February", D(2023, 2, 21), D(2023, 3, 1)),
        (D(2024, 2, 29), "a year ago today", D(2023, 2, 28), D(2023, 3, 1)),
        (D(2024, 3, 29), "a month ago today", D(2024, 2, 29), D(2024, 3, 1)),
        (D(2023, 5, 10), "2024-02-29", D(2024, 2, 29), D(2024, 3, 1)),
    ],
)
def test_leap_years(said: date, text: str, first: date, end: date) -> None:
    r = resolve(text, now=at(said, UTC))
    assert r is not None
    assert (r.start, r.end) == span(UTC, first, end), days(r, UTC)


def test_impossible_dates_are_ignored() -> None:
    now = at(WED, UTC)
    assert resolve("2023-02-29", now=now) is None
    assert resolve("Feb 30", now=now) is None
    assert resolve("13/13/2023", now=now) is None


@pytest.mark.parametrize(
    ("said", "text", "first", "end"),
    [
        # Sunday 2023-05-14: still the week that began Monday the 8th.
        (D(2023, 5, 14), "this week", D(2023, 5, 8), D(2023, 5, 15)),
        (D(2023, 5, 14), "last week", D(2023, 5, 1), D(2023, 5, 8)),
        (D(2023, 5, 14), "this weekend", D(2023, 5, 13), D(2023, 5, 15)),
        (D(2023, 5, 14), "last weekend", D(2023, 5, 6), D(2023, 5, 8)),
        (D(2023, 5, 14), "on Saturday", D(2023, 5, 13), D(2023, 5, 14)),
        (D(2023, 5, 14), "on Sunday", D(2023, 5, 7), D(2023, 5, 8)),
        # Monday 2023-05-08: a new week.
        (D(2023, 5, 8), "this week", D(2023, 5, 8), D(2023, 5, 15)),
        (D(2023, 5, 8), "last week", D(2023, 5, 1), D(2023, 5, 8)),
        (D(2023, 5, 8), "last Monday", D(2023, 5, 1), D(2023, 5, 2)),
        (D(2023, 5, 8), "on Sunday", D(2023, 5, 7), D(2023, 5, 8)),
        (D(2023, 5, 8), "this weekend", D(2023, 5, 6), D(2023, 5, 8)),
        # Tuesday 2023-05-09: "last Monday" is yesterday, "this Tuesday" today.
        (D(2023, 5, 9), "last Monday", D(2023, 5, 8), D(2023, 5, 9)),
        (D(2023, 5, 9), "this Tuesday", D(2023, 5, 9), D(2023, 5, 10)),
        (D(2023, 5, 9), "on Tuesday", D(2023, 5, 2), D(2023, 5, 3)),
        (D(2023, 5, 9), "this Friday", D(2023, 5, 5), D(2023, 5, 6)),
    ],
)
def test_weeks_start_on_monday(said: date, text: str, first: date, end: date) -> None:
    r = resolve(text, now=at(said, IST))
    assert r is not None
    assert (r.start, r.end) == span(IST, first, end), days(r, IST)


@pytest.mark.parametrize(
    "text",
    ["LAST WEEK!!", "...last week?", "(last week)", "Last Week,", "last\n  week", "'last week'"],
)
def test_case_and_punctuation(text: str) -> None:
    r = resolve(text, now=at(WED, UTC))
    assert r is not None
    assert (r.start, r.end) == span(UTC, D(2023, 5, 1), D(2023, 5, 8))
    assert r.phrase.lower() == "last week"


def test_several_references_give_the_union() -> None:
    now = at(WED, UTC)
    text = "You said yesterday that last week was hard"
    parts = resolve_all(text, now=now)
    assert [p.phrase for p in parts] == ["yesterday", "last week"]
    r = resolve(text, now=now)
    assert r is not None
    assert (r.start, r.end) == span(UTC, D(2023, 5, 1), D(2023, 5, 10))
    assert r.phrase == "yesterday, last week"


def test_longer_phrases_win_over_their_parts() -> None:
    now = at(WED, UTC)
    assert [p.phrase for p in resolve_all("the day before yesterday", now=now)] == [
        "the day before yesterday"
    ]
    assert [p.phrase for p in resolve_all("on the 8th of May 2021", now=now)] == [
        "the 8th of May 2021"
    ]
    phrases = [p.phrase for p in resolve_all("in early May of 2021", now=now)]
    assert phrases == ["in early May of 2021"]


def test_future_references_do_not_hide_past_ones() -> None:
    r = resolve("I'll call you tomorrow, like I said yesterday", now=at(WED, UTC))
    assert r is not None
    assert r.phrase == "yesterday"


def test_modal_may_next_to_a_real_month() -> None:
    r = resolve("May I ask what you did in May?", now=at(WED, UTC))
    assert r is not None
    assert r.phrase == "in May"
    assert (r.start, r.end) == span(UTC, D(2023, 5, 1), D(2023, 6, 1))


def test_range_contains() -> None:
    r = resolve("yesterday", now=at(WED, UTC))
    assert r is not None
    assert at(D(2023, 5, 9), UTC, 0).timestamp() in r
    assert at(D(2023, 5, 10), UTC, 0).timestamp() not in r


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        resolve("yesterday", now=datetime(2023, 5, 10, 14))


def test_day_boundaries_follow_the_speakers_zone() -> None:
    # 23:30 on the 10th in India is 18:00 UTC; 01:00 on the 11th in India is still the 10th in UTC.
    late = datetime(2023, 5, 11, 1, 0, tzinfo=IST)
    r = resolve("today", now=late)
    assert r is not None
    assert (r.start, r.end) == span(IST, D(2023, 5, 11), D(2023, 5, 12))
    assert r.start != at(D(2023, 5, 10), UTC, 0).timestamp()
    same_instant = resolve("today", now=late.astimezone(UTC))
    assert same_instant is not None
    assert (same_instant.start, same_instant.end) == span(UTC, D(2023, 5, 10), D(2023, 5, 11))


@needs_tzdb
def test_dst_days_are_local_midnight_to_midnight() -> None:
    assert LA is not None
    # 2023-03-12 is the spring-forward day in Los Angeles: 23 hours long.
    r = resolve("yesterday", now=at(D(2023, 3, 13), LA, 10))
    assert r is not None
    assert r.end - r.start == 23 * 3600
    assert (r.start, r.end) == span(LA, D(2023, 3, 12), D(2023, 3, 13))
    r = resolve("last weekend", now=at(D(2023, 3, 13), LA, 10))
    assert r is not None
    assert r.end - r.start == 47 * 3600
    # Said late in the evening: still that local day, although UTC has moved on.
    r = resolve("today", now=at(D(2023, 5, 10), LA, 23, 30))
    assert r is not None
    assert (r.start, r.end) == span(LA, D(2023, 5, 10), D(2023, 5, 11))
