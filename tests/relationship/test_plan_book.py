"""PlanBook: what each user message says about plans, applied to the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hearth.relationship.plan_book import PlanBook
from hearth.store import Conversation, Store, User

SEOUL = ZoneInfo("Asia/Seoul")


def at(month: int, day: int, hour: int) -> float:
    return datetime(2026, month, day, hour, tzinfo=SEOUL).timestamp()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Store, User, Conversation]]:
    store = Store(tmp_path / "hearth.db")
    user = store.people.set_profile(store.people.ensure("Minji").id, timezone="Asia/Seoul")
    character = store.characters.create(data={"name": "Ember"}, avatar=None)
    conversation = store.conversations.create(user_id=user.id, character_id=character.id,
                                              title="Ember", greetings=[])
    yield store, user, conversation
    store.close()


def test_a_plan_is_found_moved_and_cancelled(home: tuple[Store, User, Conversation]) -> None:
    store, user, conversation = home
    book = PlanBook(store)

    def say(text: str, when: float) -> list:
        message = store.messages.add(conversation_id=conversation.id, role="user",
                                     content=text, created_at=when)
        return book.note(message, user=user, conversation=conversation)

    [plan] = say("My job interview is tomorrow at 10!", at(12, 7, 20))  # a Monday
    assert plan.due_at == at(12, 8, 10) and not plan.all_day and plan.status == "upcoming"
    [moved] = say("ugh, they moved my interview to Friday", at(12, 7, 22))
    assert moved.id == plan.id and moved.due_at == at(12, 11, 10)  # the hour is kept
    assert say("Should I go to the gym tomorrow?", at(12, 8, 9)) == []
    [cancelled] = say("I cancelled the interview, I took the other offer.", at(12, 9, 9))
    assert cancelled.id == plan.id and cancelled.status == "cancelled"
    assert [p.status for p in store.plans.list(user_id=user.id)] == ["cancelled"]


def test_last_months_plan_is_not_this_weeks(home: tuple[Store, User, Conversation]) -> None:
    store, user, conversation = home
    book = PlanBook(store)
    said = store.messages.add(conversation_id=conversation.id, role="user",
                              content="My interview is on 2 November.", created_at=at(10, 20, 9))
    [old] = book.note(said, user=user, conversation=conversation)
    later = store.messages.add(conversation_id=conversation.id, role="user",
                               content="They moved my interview to Friday.",
                               created_at=at(12, 7, 9))
    book.note(later, user=user, conversation=conversation)
    assert store.plans.get(old.id, user_id=user.id).due_at == old.due_at  # not moved
