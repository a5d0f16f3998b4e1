"""The scheduler on a fake clock, with the real chat model writing what it starts.

A person in Seoul talks with the default character on Monday 7 December 2026; the
clock is then moved by hand. Every message the character starts is really generated
and stored, so the rules are checked on what the person would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hearth.config import RelationshipSettings
from hearth.relationship.outreach import Outreach
from hearth.services import Services
from hearth.store import Conversation, Message, User

SEOUL = ZoneInfo("Asia/Seoul")


def at(day: int, hour: int, minute: int = 0) -> float:
    """A moment in December 2026, Seoul time (the 7th is a Monday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SEOUL).timestamp()


class Scene:
    def __init__(self, services: Services, **settings: Any) -> None:
        self.services = services
        self.store = services.store
        user = services.accounts.local_user()
        self.user: User = self.store.people.set_profile(user.id, timezone="Asia/Seoul",
                                                        display_name="Minji")
        self.conversation: Conversation = self.store.conversations.create(
            user_id=user.id, character_id=1, title="t", greetings=[], created_at=at(7, 9))
        self.outreach = Outreach(self.store, services.chat, RelationshipSettings(**settings))

    def say(self, when: float, text: str) -> Message:
        return self.store.messages.add(conversation_id=self.conversation.id, role="user",
                                       content=text, created_at=when)

    def plan(self, said: Message, text: str, due: float, *, all_day: bool = False) -> int:
        return self.store.plans.add(
            user_id=self.user.id, character_id=1, conversation_id=self.conversation.id,
            text=text, kind="plan", due_at=due, all_day=all_day,
            source_message_ids=[said.id]).id

    def check(self, when: float) -> list[Message]:
        return asyncio.run(self.outreach.check(when))


@pytest.fixture()
def scene(start_services: Callable[..., Services]) -> Callable[..., Scene]:
    services = start_services(memory={"enabled": False})
    return lambda **settings: Scene(services, **settings)


def test_a_plan_is_followed_up_once_after_its_time(scene: Callable[..., Scene]) -> None:
    s = scene()
    said = s.say(at(7, 20), "My job interview is tomorrow at 10, I'm so nervous.")
    plan_id = s.plan(said, "job interview", at(8, 10))
    assert s.check(at(8, 11)) == []  # too soon: it may not be over
    [sent] = s.check(at(8, 12, 30))
    assert sent.role == "assistant" and sent.content.strip()
    assert sent.initiated_by == "character"
    assert sent.reason == {"kind": "follow_up", "about": [said.id], "due": at(8, 10)}
    assert s.store.messages.list(s.conversation.id)[-1].id == sent.id  # stored like a reply
    assert s.store.plans.get(plan_id, user_id=s.user.id).followed_up_at == at(8, 12, 30)
    assert s.check(at(8, 14)) == []  # never two in a row without an answer
    s.say(at(8, 15), "It went well, thanks!")
    assert s.check(at(8, 17)) == []  # never twice for one plan


def test_quiet_hours_wait_for_the_morning(scene: Callable[..., Scene]) -> None:
    s = scene()
    said = s.say(at(7, 12), "We're going to a concert tomorrow at 9 in the evening.")
    s.plan(said, "concert", at(8, 21))
    assert s.check(at(8, 23, 30)) == []  # 22:00-08:00 is quiet in Seoul
    assert s.check(at(9, 7, 59)) == []
    [sent] = s.check(at(9, 8, 1))
    assert sent.reason and sent.reason["kind"] == "follow_up"


def test_at_most_one_a_day_then_the_next_day(scene: Callable[..., Scene]) -> None:
    s = scene()
    said = s.say(at(7, 12), "On Tuesday I move house, and I also start my pottery class.")
    first = s.plan(said, "move house", at(8, 0), all_day=True)
    second = s.plan(said, "pottery class", at(8, 0), all_day=True)
    assert s.check(at(8, 17)) == []  # a whole day's plan is asked about that evening
    [sent] = s.check(at(8, 18, 10))
    s.say(at(8, 19), "It was tiring but fine.")
    assert s.check(at(8, 20)) == []  # the day's one message is spent
    [later] = s.check(at(9, 9))
    followed = {p.id for p in s.store.plans.list(user_id=s.user.id) if p.followed_up_at}
    assert followed == {first, second}
    assert sent.reason and later.reason and sent.reason["due"] == later.reason["due"]


def test_cancelled_moved_and_deleted_plans(scene: Callable[..., Scene]) -> None:
    s = scene()
    said = s.say(at(7, 12), "Dentist on Tuesday at 9, flight on Tuesday at 11, gym at 13.")
    dentist = s.plan(said, "dentist", at(8, 9))
    flight = s.plan(said, "flight", at(8, 11))
    gym = s.plan(said, "gym", at(8, 13))
    book = s.services.chat.plans
    book.edit(dentist, user=s.user, status="cancelled")
    book.edit(flight, user=s.user, due_at=at(10, 11))  # the person moved it to Thursday
    s.store.plans.delete(gym, user_id=s.user.id)
    for hour in range(9, 22):
        assert s.check(at(8, hour, 30)) == []
    [sent] = s.check(at(10, 13, 30))
    assert sent.reason and sent.reason["due"] == at(10, 11)


def test_a_note_after_days_of_silence_and_not_again(scene: Callable[..., Scene]) -> None:
    s = scene(absence_days=3)
    s.say(at(7, 20), "Good night!")
    assert s.check(at(10, 19)) == []  # not yet three days
    [sent] = s.check(at(10, 21))
    assert sent.reason and sent.reason["kind"] == "absence"
    assert s.check(at(12, 12)) == []  # once per silence


def test_a_person_who_turned_it_off_gets_nothing(scene: Callable[..., Scene]) -> None:
    s = scene()
    said = s.say(at(7, 20), "My exam is tomorrow at 10.")
    s.plan(said, "exam", at(8, 10))
    s.store.people.set_profile(s.user.id, reach_out=False)
    for day in range(8, 20):
        assert s.check(at(day, 13)) == []


def test_the_hundredth_day(scene: Callable[..., Scene]) -> None:
    s = scene(absence_days=365)
    first = s.say(at(7, 20), "Hi, nice to meet you.")
    s.store.messages.add(conversation_id=s.conversation.id, role="assistant", content="Hello!",
                         created_at=first.created_at + 5)
    hundredth = datetime(2027, 3, 17, 9, tzinfo=SEOUL).timestamp()  # 7 Dec + 100 days
    assert s.check(hundredth - 86400) == []
    [sent] = s.check(hundredth)
    assert sent.reason and sent.reason["kind"] == "milestone"
    s.say(hundredth + 600, "Wow, 100 days already!")
    assert s.check(hundredth + 3 * 3600) == []  # marked once
