"""A character who reaches out: follow-ups, birthdays, milestones, and a note after silence.

`hearth serve` runs `Outreach.run`, which looks every `relationship.check_seconds`
for a message due. `due(now)` decides from the store alone (and takes any clock,
so the benchmark steps a simulated one through weeks); `check(now)` writes what is
due through `Chat.reach_out`, in character and stored like any reply.

The person is respected: each can turn it off (`reach_out`); nothing is started in
their quiet hours (their time zone), in a conversation they are in the middle of,
right after another message the character started (never two in a row without an
answer), or beyond `relationship.max_per_day` a conversation a day; a plan is
followed up once, never when cancelled, and only within a day of its time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hearth.chat import Chat
from hearth.config import RelationshipSettings
from hearth.engines.llm import Preempted
from hearth.errors import Busy
from hearth.memory.recall import STOPWORDS
from hearth.relationship.milestones import local_day, midnight, milestone_on
from hearth.relationship.plan_book import next_year
from hearth.store import Conversation, Message, Plan, Store, User

log = logging.getLogger(__name__)

LEASE = "outreach_lease"  # meta key: which process runs the schedule
GIVE_UP_AFTER = 3  # tries that come back empty before a message is let go (until restart)

IDLE_SECONDS = 20 * 60  # the person spoke this recently: they are in the conversation
FOLLOW_UP_AFTER = 2 * 3600  # a plan with a time is asked about two hours after it
EVENING = 18  # a plan for a whole day is asked about from 18:00 that day
FOLLOW_UP_WITHIN = 24 * 3600  # a day after a plan (or after its whole day), it is stale
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Reach:
    """A message the character may start now."""

    kind: str  # "follow_up", "birthday", "milestone" or "absence"
    user: User
    conversation: Conversation
    due: float  # when the plan, date or silence fell due
    about: tuple[int, ...] = ()  # message ids it is about
    instruction: str = ""  # what the character is asked to write
    plan: Plan | None = field(default=None, compare=False)

    @property
    def reason(self) -> dict:
        return {"kind": self.kind, "about": list(self.about), "due": self.due}


class Outreach:
    def __init__(self, store: Store, chat: Chat, settings: RelationshipSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.chat = chat
        self.settings = settings
        self.clock = clock
        self._said_nothing: dict[tuple, int] = {}  # reach -> times the model wrote nothing

    async def run(self) -> None:
        """Check for messages due, every `check_seconds`, until cancelled. Of several
        processes on one database (`hearth serve` and `hearth chat`), one checks at a time."""
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        while True:
            try:
                lease = 3 * self.settings.check_seconds
                if self.store.meta.claim(LEASE, holder, now=time.time(), seconds=lease):
                    await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad check must not end the schedule
                log.exception("checking for messages to start failed; trying again later")
            await asyncio.sleep(self.settings.check_seconds)

    async def check(self, now: float | None = None) -> list[Message]:
        """Start every message due at `now`; returns those stored."""
        now = self.clock() if now is None else now
        sent = []
        for reach in await asyncio.to_thread(self.due, now):
            key = (reach.kind, reach.conversation.id, reach.due)
            if self._said_nothing.get(key, 0) >= GIVE_UP_AFTER:
                continue
            try:
                message = await self.chat.reach_out(reach.user, reach.conversation,
                                                    reason=reach.reason,
                                                    instruction=reach.instruction, now=now)
            except (Busy, Preempted):
                continue  # people are talking to the model: still due next time
            if message is None:  # the model wrote nothing: try again, a few times
                self._said_nothing[key] = self._said_nothing.get(key, 0) + 1
                continue
            if reach.plan is not None:
                self.store.plans.update(reach.plan.id, user_id=reach.user.id, followed_up_at=now)
            sent.append(message)
        return sent

    # -- what is due ---------------------------------------------------------------

    def due(self, now: float) -> list[Reach]:
        """At most one message for each person's latest conversation with each character."""
        if not self.settings.enabled:
            return []
        found = []
        for user in self.store.people.list():
            if not user.reach_out or self._quiet(now, user.zone):
                continue
            for conversation in self._latest_conversations(user):
                reach = self._due_in(user, conversation, now)
                if reach is not None:
                    found.append(reach)
        return found

    def _latest_conversations(self, user: User) -> list[Conversation]:
        latest: dict[int, Conversation] = {}
        for c in self.store.conversations.list(user_id=user.id):  # most recent first
            latest.setdefault(c.character_id, c)
        return list(latest.values())

    def _quiet(self, now: float, zone: ZoneInfo) -> bool:
        quiet = self.settings.quiet
        if quiet is None:
            return False
        local = datetime.fromtimestamp(now, zone)
        minute = local.hour * 60 + local.minute
        start, end = quiet
        return start <= minute < end if start <= end else minute >= start or minute < end

    def _due_in(self, user: User, conversation: Conversation, now: float) -> Reach | None:
        owner = {"user_id": user.id, "character_id": conversation.character_id}
        said = self.store.messages.said_times(**owner)
        last = self.store.messages.last(conversation.id)
        if not said or last is None or last.reason is not None:
            return None  # never talked, or the last word is already the character's own
        if now - max(said[-1], last.created_at) < IDLE_SECONDS:
            return None
        # Imported history is not silence: time away counts from the conversation's start.
        seen = max(said[-1], conversation.created_at)
        zone = user.zone
        today = local_day(now, zone)
        started = self.store.messages.started(**owner)
        since_midnight = midnight(today, zone)
        today_count = sum(1 for m in started
                          if m.conversation_id == conversation.id and m.created_at >= since_midnight)
        if today_count >= self.settings.max_per_day:
            return None
        self._roll_dates(user, conversation.character_id, today)
        plans = self.store.plans.list(**owner, status="upcoming")
        char = self.store.characters.get(conversation.character_id).name
        return (self._follow_up(user, conversation, plans, now, char)
                or self._birthday(user, conversation, plans, started, today, char)
                or self._milestone(user, conversation, said, started, today, char)
                or self._absence(user, conversation, seen, started, now, char))

    def _roll_dates(self, user: User, character_id: int, today: date) -> None:
        """A yearly date whose day has gone comes round again next year."""
        for plan in self.store.plans.list(user_id=user.id, character_id=character_id):
            if plan.kind == "date" and local_day(plan.due_at, user.zone) < today:
                self.store.plans.update(plan.id, user_id=user.id,
                                        due_at=next_year(plan, user.zone), followed_up_at=None)

    # -- the kinds, in order of precedence -------------------------------------------

    def _follow_up(self, user: User, conversation: Conversation, plans: Sequence[Plan],
                   now: float, char: str) -> Reach | None:
        for plan in plans:
            if plan.kind != "plan" or plan.followed_up_at is not None:
                continue
            if not ask_at(plan, user.zone) <= now < stale_at(plan):
                continue
            if self._told_since(plan, conversation):
                continue
            quote = self._quote(plan, user)
            return Reach(
                "follow_up", user, conversation, plan.due_at, tuple(plan.source_message_ids),
                self._instruction(now, user, char, f"{user.shown_name} told {char} earlier"
                                  f"{quote} ({plan.text}). That time has now passed. Ask "
                                  f"{user.shown_name} how it went, warmly and briefly."),
                plan)
        return None

    def _told_since(self, plan: Plan, conversation: Conversation) -> bool:
        """The person already spoke of the plan after its time: no need to ask."""
        words = {w for w in _WORD.findall(plan.text.lower()) if w not in STOPWORDS and len(w) > 2}
        if not words:
            return False
        for m in reversed(self.store.messages.list(conversation.id)):
            if m.created_at < plan.due_at:
                break
            if m.role == "user" and words & set(_WORD.findall(m.content.lower())):
                return True
        return False

    def _quote(self, plan: Plan, user: User) -> str:
        messages = self.store.messages.owned(ids=plan.source_message_ids[:1])
        if not messages:
            return ""
        m = messages[0].message
        return f' on {_day(m.created_at, user.zone)}: "{m.content[:300]}"'

    def _birthday(self, user: User, conversation: Conversation, plans: Sequence[Plan],
                  started: Sequence[Message], today: date, char: str) -> Reach | None:
        for plan in plans:
            if plan.kind != "date" or local_day(plan.due_at, user.zone) != today:
                continue
            if any(m.reason and m.reason.get("due") == plan.due_at for m in started):
                continue
            kind = "birthday" if "birthday" in plan.text.lower() else "milestone"
            return Reach(
                kind, user, conversation, plan.due_at, tuple(plan.source_message_ids),
                self._instruction(plan.due_at, user, char,
                                  f"Today is {plan.text}, as {user.shown_name} once told "
                                  f"{char}. Mark the day with a short, warm message."),
                plan)
        return None

    def _milestone(self, user: User, conversation: Conversation, said: Sequence[float],
                   started: Sequence[Message], today: date, char: str) -> Reach | None:
        mark = milestone_on(local_day(said[0], user.zone), today)
        if mark is None:
            return None
        due = midnight(mark.day, user.zone)
        if any(m.reason and m.reason.get("kind") == "milestone" and m.reason.get("due") == due
               for m in started):
            return None
        return Reach(
            "milestone", user, conversation, due, (),
            self._instruction(due, user, char,
                              f"Today it is {mark.label} since {char} and {user.shown_name} "
                              f"first talked, on {_day(said[0], user.zone)}. Mark the day "
                              "with a short, warm message."))

    def _absence(self, user: User, conversation: Conversation, seen: float,
                 started: Sequence[Message], now: float, char: str) -> Reach | None:
        away = now - seen
        if away < self.settings.absence_days * 86400:
            return None
        if any(m.created_at > seen for m in started):
            return None  # already reached out since they last spoke
        days = int(away // 86400)
        return Reach(
            "absence", user, conversation, seen + self.settings.absence_days * 86400, (),
            self._instruction(now, user, char,
                              f"{user.shown_name} has not talked with {char} for {days} days. "
                              f"Write to {user.shown_name}: say you thought of them and ask "
                              "how they have been, briefly."))

    def _instruction(self, now: float, user: User, char: str, text: str) -> str:
        local = datetime.fromtimestamp(now, user.zone)
        return (f"[{char} writes first; {user.shown_name} has not said anything yet. "
                f"Now: {local.strftime('%a %-d %b %Y, %H:%M')}. {text}]")


def ask_at(plan: Plan, zone: ZoneInfo) -> float:
    """When to ask how a plan went: two hours after its time, or that evening."""
    if not plan.all_day:
        return plan.due_at + FOLLOW_UP_AFTER
    day = local_day(plan.due_at, zone)
    return datetime(day.year, day.month, day.day, EVENING, tzinfo=zone).timestamp()


def stale_at(plan: Plan) -> float:
    """When a follow-up would come too late: a day after the plan's time (or its day)."""
    return plan.due_at + FOLLOW_UP_WITHIN * (2 if plan.all_day else 1)


def _day(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%a %-d %b")
