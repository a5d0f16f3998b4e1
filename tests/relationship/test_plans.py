"""The person's dated plans, yearly dates, distractors, and changes to known plans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hearth.relationship.plans import Found, find_changes, find_plans

SEOUL = ZoneInfo("Asia/Seoul")
# Monday 2025-05-12, 21:30 in Seoul.
MON = datetime(2025, 5, 12, 21, 30, tzinfo=SEOUL)


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, SEOUL).strftime("%a %Y-%m-%d %H:%M")


def one(text: str, now: datetime = MON) -> Found:
    found = find_plans(text, now=now)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(("text", "what", "due", "all_day"), [
    ("my interview is tomorrow at 10", "interview", "Tue 2025-05-13 10:00", False),
    ("we fly to Busan next Tuesday", "fly to Busan", "Tue 2025-05-20 00:00", True),
    ("I have a dentist appointment on Friday", "dentist appointment",
     "Fri 2025-05-16 00:00", True),
    ("I've got a job interview at Samsung tomorrow morning at 9:30",
     "job interview at Samsung", "Tue 2025-05-13 09:30", False),
    ("I can't wait for my trip to Jeju on Saturday!", "trip to Jeju",
     "Sat 2025-05-17 00:00", True),
    ("My interview is tomorrow at 10, can you help me prep?", "interview",
     "Tue 2025-05-13 10:00", False),
    ("I haven't packed and my flight is the day after tomorrow at 6am", "flight",
     "Wed 2025-05-14 06:00", False),
    # A time in the next sentence belongs to the dated plan before it.
    ("Exam day is Thursday!! Organic chemistry, 2pm. Wish me luck", "Exam day",
     "Thu 2025-05-15 14:00", False),
])
def test_plans(text: str, what: str, due: str, all_day: bool) -> None:
    f = one(text)
    assert (f.text, local(f.due), f.all_day, f.kind) == (what, due, all_day, "plan")


@pytest.mark.parametrize(("text", "what", "due"), [
    ("Mum's birthday is on 3 May", "Mum's birthday", "Sun 2026-05-03 00:00"),  # next one
    ("my birthday is June 12", "my birthday", "Thu 2025-06-12 00:00"),
    ("our anniversary is on 9 October", "our anniversary", "Thu 2025-10-09 00:00"),
    ("my mum's birthday is May 12th", "mum's birthday", "Mon 2025-05-12 00:00"),  # today
    ("I was born on 20 July", "my birthday", "Sun 2025-07-20 00:00"),
])
def test_yearly_dates(text: str, what: str, due: str) -> None:
    f = one(text)
    assert (f.text, local(f.due), f.all_day, f.kind) == (what, due, True, "date")


def test_a_birthday_party_is_a_plan() -> None:
    assert one("Mum's birthday party is on Saturday").kind == "plan"


# Decision: an event the message puts the person in is theirs; one told about someone
# else, with no sign of the person in it, is not.
def test_someone_elses_event_with_the_person_in_it() -> None:
    assert one("my sister's wedding is on Saturday and I'm going").text == "sister's wedding"
    assert one("My brother is getting married next Saturday and I'm the best man").due \
        == datetime(2025, 5, 24, tzinfo=SEOUL).timestamp()
    assert one("My daughter's recital is on Friday evening at 6:30").all_day is False


@pytest.mark.parametrize("text", [
    # hypotheticals
    "if I ever go to Paris next month", "maybe someday I'll visit Paris next week",
    "I wish I could go to the beach tomorrow", "I'd love to go hiking on Saturday",
    "I might go to the gym tomorrow",
    # other people's plans told in passing
    "my friend is going to Rome next week", "My flatmate has her driving test tomorrow",
    "Tom is flying to Tokyo on Friday", "My friend Kenji has his wedding on Saturday",
    # past events
    "I had my interview yesterday", "I had my performance review this morning",
    "My flight last Tuesday was a nightmare",
    # jokes
    "yeah right, I'll run a marathon tomorrow lol",
    "lol sure, I'll totally clean the whole garage tomorrow 🙄",
    # questions
    "should I go to the gym tomorrow?", "what are you doing tomorrow?",
    "Whats the weather like tomorrow", "Is it weird to see a movie alone on Friday?",
    # negations
    "I'm not going to the party on Friday", "I won't be at the meeting tomorrow",
    # habits
    "I go running every morning", "I visit my grandmother every Sunday",
    "on Fridays I do yoga",
    # cancellations of something never told
    "I cancelled my dentist appointment on Friday",
])
def test_distractors(text: str) -> None:
    assert find_plans(text, now=MON) == []


@dataclass
class Plan:
    id: int
    text: str
    due_at: float
    status: str = "upcoming"
    all_day: bool = False


def known() -> list[Plan]:
    return [
        Plan(1, "interview", datetime(2025, 5, 13, 10, tzinfo=SEOUL).timestamp()),
        Plan(2, "fly to Busan", datetime(2025, 5, 20, tzinfo=SEOUL).timestamp(), all_day=True),
    ]


@pytest.mark.parametrize(("text", "plan_id", "due", "all_day"), [
    # A new day keeps the old clock time; a new time alone keeps the day.
    ("the interview got moved to Friday", 1, "Fri 2025-05-16 10:00", False),
    ("they rescheduled my interview to next Monday at 2", 1, "Mon 2025-05-19 14:00", False),
    ("the interview is now at 3pm", 1, "Tue 2025-05-13 15:00", False),
    ("the Busan trip is pushed back a week", 2, "Tue 2025-05-27 00:00", True),
    ("our flight got delayed to Wednesday", 2, "Wed 2025-05-21 00:00", True),
])
def test_moves(text: str, plan_id: int, due: str, all_day: bool) -> None:
    plans = known()
    changes = find_changes(text, now=MON, plans=plans)
    assert [(c.plan_id, c.status, local(c.due or 0), c.all_day) for c in changes] \
        == [(plan_id, "upcoming", due, all_day)]
    # The message is a change, not also a new plan.
    assert find_plans(text, now=MON, plans=plans) == []


@pytest.mark.parametrize(("text", "plan_id"), [
    ("I cancelled the trip", 2),
    ("the interview is off", 1),
    ("we're not going to Busan anymore", 2),
    ("ugh, they called off the interview", 1),
    ("the Busan trip is postponed, no idea when", 2),  # no new date: not this date
])
def test_cancellations(text: str, plan_id: int) -> None:
    plans = known()
    changes = find_changes(text, now=MON, plans=plans)
    assert [(c.plan_id, c.status, c.due) for c in changes] == [(plan_id, "cancelled", None)]
    assert find_plans(text, now=MON, plans=plans) == []


@pytest.mark.parametrize("text", [
    "my cat is sick", "the concert got cancelled", "should I cancel the interview?",
    "if they move the interview I'll scream",
])
def test_no_change(text: str) -> None:
    assert find_changes(text, now=MON, plans=known()) == []


def test_it_means_the_only_upcoming_plan() -> None:
    plans = known()[:1]
    changes = find_changes("it got moved to Friday", now=MON, plans=plans)
    assert [c.plan_id for c in changes] == [1]
    assert find_changes("it got moved to Friday", now=MON, plans=known()) == []


def test_cancelled_plans_are_not_changed_again() -> None:
    plans = known()
    plans[1].status = "cancelled"
    assert find_changes("the Busan trip is pushed back a week", now=MON, plans=plans) == []


def test_a_plan_told_again_is_not_a_duplicate() -> None:
    plans = known()
    assert find_plans("so nervous, the interview is tomorrow at 10", now=MON, plans=plans) == []
    # A different day is a different event.
    assert len(find_plans("another interview on Thursday", now=MON, plans=plans)) == 1
