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


# --- plans as people type them (lowercase, typos, no apostrophes, emoji, rants) ------

@pytest.mark.parametrize(("text", "due", "all_day"), [
    ("i have a dentist appt tmrw at 3", "Tue 2025-05-13 15:00", False),
    ("have my driving test on wed 21st", "Wed 2025-05-21 00:00", True),  # no "I": not a question
    ("have to pick up my brother from the airport at 5 tomorrow", "Tue 2025-05-13 17:00", False),
    ("got a date on friday night 😳", "Fri 2025-05-16 00:00", True),
    ("me and jess are going hiking on saturday", "Sat 2025-05-17 00:00", True),
    ("going to my cousin's wedding on saturday the 17th", "Sat 2025-05-17 00:00", True),
    ("gp appointment for my knee, tomorrow at half 3", "Tue 2025-05-13 15:30", False),
    ("nye party at tom's tomorrow night from 8", "Tue 2025-05-13 20:00", False),
    ("meeting mei for coffee tomorrow around 4", "Tue 2025-05-13 16:00", False),
    ("my driving test is next friday at 9am 😭 third attempt", "Fri 2025-05-23 09:00", False),
    ("i will go to the hospital tomorrow for check up", "Tue 2025-05-13 00:00", True),
    ("taking mom to the doctor on the 15th at 11", "Thu 2025-05-15 11:00", False),
    ("ok so my mom's surgery is tomorrow at 8am, i'm driving her", "Tue 2025-05-13 08:00", False),
    # A plan buried in a rant, after a clock time of the day gone by.
    ("long day. my manager yelled at me at 3pm and i missed lunch. anyway tomorrow i have "
     "a dentist appointment at 11", "Tue 2025-05-13 11:00", False),
    ("honestly today was so much. and on top of that i have to give the presentation on "
     "may 20th at 10am, which, cool", "Tue 2025-05-20 10:00", False),
])
def test_casual_plans(text: str, due: str, all_day: bool) -> None:
    f = one(text)
    assert (local(f.due), f.all_day, f.kind) == (due, all_day, "plan")


def test_a_clause_that_points_back_is_described_by_the_sentence_before() -> None:
    f = one("ok so. i got the interview!!! at the logistics company. it's thursday at 2pm 😬😬 "
            "any tips for not sounding like a robot")
    assert local(f.due) == "Thu 2025-05-15 14:00" and "logistics company" in f.text


@pytest.mark.parametrize(("text", "what", "due"), [
    # Told in the past tense, a yearly date still gives the next one.
    ("my dad's birthday was on friday, the 9th of may, and i forgot 💀", "dad's birthday",
     "Sat 2026-05-09 00:00"),
    ("we got married on valentine's day, yes it's cringe", "wedding anniversary",
     "Sat 2026-02-14 00:00"),
    ("we met on 3 march 2020 so our anniversary is coming up", "our anniversary",
     "Tue 2026-03-03 00:00"),
])
def test_yearly_dates_told_in_the_past(text: str, what: str, due: str) -> None:
    f = one(text)
    assert (f.text, local(f.due), f.kind) == (what, due, "date")


@pytest.mark.parametrize("text", [
    # someone else's, told in passing
    "my sister flies to lisbon next week and keeps sending me pics like i'm the one going lol",
    "my wife has a conference in denver next week so it's just me and the dog",
    "my best friend's flight to cebu is tomorrow morning",
    "my husband's business trip is next week", "my boss's flight leaves tomorrow at 6",
    "had my interview yesterday. they said they'd get back to me in 2 weeks",
    "jess is moving to london next month", "jess has her exam tomorrow",
    "my roommate is going to a concert tomorrow night",
    "my mom is visiting her friend in oslo next weekend",
    "he said he would call me tomorrow", "my friend is going to Rome next week and I am jealous",
    # things that happen by themselves
    "the store opens at 10 tomorrow", "my package arrives tomorrow",
    "there's a full moon on friday", "the new season comes out next week",
    # the day's story, a clock time already gone
    "boss dumped a whole new report on me at 4pm", "only took 3 weeks of ringing them at 8am 🙃",
    "today was so long, work was crazy", "i woke up at 6 today",
    # negations typed without apostrophes, no plans
    "i dont have work tomorrow", "i wont be at the meeting tomorrow",
    "im not going to léa's party on saturday. cant be bothered",
    "i have no plans this weekend", "nothing planned for tomorrow lol",
    # wishes, oughts, questions without a question mark
    "it would be nice to go out tomorrow", "i should really study tomorrow",
    "i wish we could go to the beach next month", "do you think i should book a massage for saturday",
    "is it weird to go to the movies alone on friday",
    # jokes, habits
    "yeah sure i'll run a marathon tomorrow lmao",
    "i used to go to church every sunday with my lola", "i do yoga every tuesday",
    "merry christmas!!",
])
def test_casual_distractors(text: str) -> None:
    assert find_plans(text, now=MON) == []


def test_someone_elses_event_one_attends_is_the_persons() -> None:
    assert one("my cousin's wedding is on saturday").text == "cousin's wedding"
    assert one("Children's day on Monday, taking the kids to the zoo").kind == "plan"


@pytest.mark.parametrize(("text", "plan_id", "status", "due"), [
    ("ugh jess cant make it, we moved the busan trip to next wednesday", 2, "upcoming",
     "Wed 2025-05-21 00:00"),
    ("welp. busan is off, my dad tested positive 🙄", 2, "cancelled", ""),
    ("the interview's cancelled :(", 1, "cancelled", ""),
    ("Busan's off, my husband has to work", 2, "cancelled", ""),
])
def test_casual_changes(text: str, plan_id: int, status: str, due: str) -> None:
    changes = find_changes(text, now=MON, plans=known())
    assert [(c.plan_id, c.status, local(c.due) if c.due else "") for c in changes] \
        == [(plan_id, status, due)]


def test_a_change_naming_nothing_reads_the_sentences_before() -> None:
    plans = [Plan(1, "haircut", datetime(2025, 5, 13, 17, 30, tzinfo=SEOUL).timestamp()),
             Plan(2, "fly to Busan", datetime(2025, 5, 20, tzinfo=SEOUL).timestamp())]
    text = "salon just called, my stylist is sick. they moved me to thursday at 18:00"
    changes = find_changes(text, now=MON, plans=plans)
    assert [(c.plan_id, local(c.due or 0)) for c in changes] == [(1, "Thu 2025-05-15 18:00")]
    assert find_plans(text, now=MON, plans=plans) == []
    # A sentence naming something else is not about a plan before it.
    assert find_changes("the interview is on tuesday. I cancelled netflix", now=MON,
                        plans=known()) == []


@pytest.mark.parametrize("text", [
    "my sister's flight got cancelled", "i cancelled my netflix",
    "i'm thinking of cancelling the busan trip", "what if the interview gets moved",
    "jess changed her hair lol",
])
def test_casual_non_changes(text: str) -> None:
    assert find_changes(text, now=MON, plans=known()) == []


# --- classes of phrasing, probed beyond the labelled histories ---------------------

NOON = datetime(2025, 5, 12, 12, 30, tzinfo=SEOUL)


@pytest.mark.parametrize(("text", "due"), [
    # Learner English: no article, ordinal without "the".
    ("i have dentist appointment on 21st at 3pm", "Wed 2025-05-21 15:00"),
    ("I have exam on 20th, very nervous", "Tue 2025-05-20 00:00"),
    ("i have job interview at 10am tomorrow", "Tue 2025-05-13 10:00"),
    # A day only judged, then the event: the clock time takes that day.
    ("tomorrow is more scary.. i have job interview at 10am", "Tue 2025-05-13 10:00"),
    ("friday will be so busy. dentist at 2pm", "Fri 2025-05-16 14:00"),
    # A modal outside the dated clause does not make it a wish.
    ("tonight at 8 i'm on a zoom with uni mates which should cheer me up",
     "Mon 2025-05-12 20:00"),
    ("my flight is tomorrow ✈️ at 6am", "Tue 2025-05-13 06:00"),  # an emoji ends a sentence
    # Past verbs that set something up ahead, and feelings in -ed.
    ("i booked flights to jeju for next saturday", "Sat 2025-05-24 00:00"),
    ("i finally landed an interview for friday!!", "Fri 2025-05-16 00:00"),
    ("Stressed about my exam tomorrow", "Tue 2025-05-13 00:00"),
    ("I studied all day, exam is tomorrow at 9", "Tue 2025-05-13 09:00"),
    # A habit in another clause; "my <person>" before an event noun is the person's.
    ("i often go to the gym but tomorrow i have a doctor appointment at 10",
     "Tue 2025-05-13 10:00"),
    ("my team meeting is tomorrow at 10", "Tue 2025-05-13 10:00"),
    ("my family trip is next weekend", "Sat 2025-05-24 00:00"),
    ("my sister and i are flying to paris on friday and coming back on monday",
     "Fri 2025-05-16 00:00"),  # the way back is the same plan
])
def test_general_plans(text: str, due: str) -> None:
    assert local(one(text, NOON).due) == due


@pytest.mark.parametrize(("text", "days"), [
    ("vet on wednesday at 4, and then my sister's wedding is saturday", ["Wed", "Sat"]),
    ("i have a test on friday and i'm going to a concert on saturday", ["Fri", "Sat"]),
    ("dentist tomorrow at 9; also my date is on friday", ["Tue", "Fri"]),
    # Someone else's half is still someone else's; a wish covers both halves.
    ("jess is flying to rome on friday, and my parents visit on sunday", []),
    ("if it rains saturday we stay home, and then sunday we see", []),
])
def test_two_plans_joined_in_one_sentence(text: str, days: list[str]) -> None:
    assert [local(f.due)[:3] for f in find_plans(text, now=MON)] == days


def test_a_fragment_is_described_by_the_event_before() -> None:
    f = find_plans("my friend set me up on blind date. saturday 7pm at some italian "
                   "restaurant 😳😳 what should i wear", now=MON)
    assert len(f) == 1 and "blind date" in f[0].text and local(f[0].due) == "Sat 2025-05-17 19:00"


@pytest.mark.parametrize("text", [
    # Someone else, with the verb as a learner types it.
    "my brother go to london next week for work", "my friend come to visit on saturday",
    "he go to hospital tomorrow", "my cousins come over tomorrow for dinner",
    # First-person past, any verb, with or without the "I"; a part of today gone.
    "i missed my bus this morning", "i cleaned the whole flat on friday lol",
    "we watched a movie tonight, it was good", "finished my essay today finally",
    "i've already sent the form today", "i sent it this afternoon",
    "went to a concert on saturday, amazing", "my exam was today 😭",
    "i skipped book club tonight, didn't finish the book",
    # Habits.
    "i usually go to the gym at 7am", "i always call my mum on friday",
    "every tuesday and friday i have piano", "i go every monday and thursday before work",
    "i normally work late on thursday", "she usually calls on sunday",
    # States and days only judged.
    "by monday i'll be so broke lol", "i'll be rich by next week",
    "and by friday i'll be a millionaire and retire to a private island",
    "tomorrow is gonna be so busy", "friday's going to be a long day",
    "tomorrow is more hard than today",
    # Wishes in the dated clause.
    "I should probably clean my room tomorrow", "we might go hiking on saturday",
])
def test_general_distractors(text: str) -> None:
    assert find_plans(text, now=NOON) == []


@pytest.mark.parametrize(("text", "due"), [
    ("clinic called, they change my appointment to 23rd, same time", "Fri 2025-05-23 10:00"),
    ("my interview is now on 28th at 11am", "Wed 2025-05-28 11:00"),
])
def test_moves_to_an_ordinal_without_the(text: str, due: str) -> None:
    plans = [Plan(1, "interview appointment", datetime(2025, 5, 13, 10, tzinfo=SEOUL).timestamp())]
    changes = find_changes(text, now=MON, plans=plans)
    assert [(c.plan_id, local(c.due or 0)) for c in changes] == [(1, due)]


def test_a_plan_carries_the_sentence_it_was_found_in() -> None:
    found = find_plans("hi. Exam day is Thursday! Organic chemistry, 2pm. bye",
                       now=MON)
    assert [f.sentence for f in found] == ["Exam day is Thursday!"]
    assert one("we fly to Busan next Tuesday").sentence == "we fly to Busan next Tuesday"


@pytest.mark.parametrize("text", [
    "내일 오후 3시에 면접이 있어요.", "다음 주 화요일에 부산 가! 🎉",
    "明日の10時に面接があります。",
])
def test_korean_and_japanese_plans_are_not_read_yet(text: str) -> None:
    # Plan finding is English-only for now: other languages pass through untouched.
    now = datetime(2023, 5, 10, 14, tzinfo=ZoneInfo("Asia/Seoul"))
    assert find_plans(text, now=now) == [] and find_changes(text, now=now, plans=[]) == []
