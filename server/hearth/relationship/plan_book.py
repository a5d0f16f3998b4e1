"""The person's plans and dates as the character knows them, and what the two share.

Every user message goes through `note`: a change to a known plan ("the interview
got moved to Friday", "I cancelled the trip") updates it; otherwise new dated plans
in it are added. Finding them is plain rules (relationship/plans.py): the small
default model embellishes, and a plan it made up would be asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hearth.errors import InvalidInput
from hearth.relationship import plans as finder
from hearth.relationship.milestones import Milestone, local_day, midnight, milestones
from hearth.store import Conversation, Fact, Message, Plan, Store, User

STATUSES = ("upcoming", "done", "cancelled")


@dataclass(frozen=True)
class Relationship:
    """What a person and a character share, as the relationship route shows it."""

    known_since: float | None
    last_talk: float | None
    days_talked: int
    milestones: list[Milestone]
    upcoming: list[Plan]
    past: list[Plan]


class PlanBook:
    def __init__(self, store: Store) -> None:
        self.store = store

    def note(self, message: Message, *, user: User, conversation: Conversation) -> list[Plan]:
        """Apply what a user message says about plans; returns the plans added or changed."""
        if message.role != "user":
            return []
        now = datetime.fromtimestamp(message.created_at, user.zone)
        owner = {"user_id": user.id, "character_id": conversation.character_id}
        # The plans still ahead (or just gone): last month's interview is not "the interview".
        known = [p for p in self.store.plans.list(**owner, status="upcoming")
                 if p.kind == "date" or p.due_at >= message.created_at - 86400]
        changed = []
        for change in finder.find_changes(message.content, now=now, plans=known,
                                          lang=user.lang):
            updates: dict[str, object] = {"status": change.status}
            if change.due is not None:
                updates.update(due_at=change.due, followed_up_at=None)
                if change.all_day is not None:
                    updates["all_day"] = change.all_day
            changed.append(self.store.plans.update(int(change.plan_id), user_id=user.id,
                                                   **updates))
        # Sentences that change a known plan, and plans told again, are not new plans.
        added = [self.store.plans.add(
            **owner, conversation_id=conversation.id, text=found.text, kind=found.kind,
            due_at=found.due, all_day=found.all_day, source_message_ids=[message.id])
            for found in finder.find_plans(message.content, now=now, plans=known,
                                           lang=user.lang)]
        return changed + added

    def note_many(self, messages: Sequence[Message], *, user: User,
                  conversation: Conversation) -> None:
        """Imported history, in the order it was said (each read at its own time)."""
        for message in messages:
            self.note(message, user=user, conversation=conversation)

    # -- the person's edits ------------------------------------------------------------

    def edit(self, plan_id: int, *, user: User, text: str | None = None,
             due_at: float | None = None, all_day: bool | None = None,
             status: str | None = None) -> Plan:
        plan = self.store.plans.get(plan_id, user_id=user.id)
        changes: dict[str, object] = {}
        if text is not None:
            if not text.strip():
                raise InvalidInput("text: a plan needs some words; delete it instead")
            changes["text"] = text.strip()
        if status is not None:
            if status not in STATUSES:
                raise InvalidInput(f"status: {status!r} is not one of {', '.join(STATUSES)}")
            changes["status"] = status
        if due_at is not None and due_at != plan.due_at:
            changes.update(due_at=due_at, followed_up_at=None)  # a new time: ask again then
        if all_day is not None:
            changes["all_day"] = all_day
        return self.store.plans.update(plan_id, user_id=user.id, **changes) if changes else plan

    # -- what the two share ------------------------------------------------------------

    def relationship(self, user: User, conversation: Conversation, *,
                     now: float) -> Relationship:
        owner = {"user_id": user.id, "character_id": conversation.character_id}
        said = self.store.messages.said_times(**owner)
        zone = user.zone
        plans = self.store.plans.list(**owner)
        marks: list[Milestone] = []
        if said:
            marks = milestones(local_day(said[0], zone), until=local_day(now, zone))
        today = local_day(now, zone)
        marks.extend(birthdays(plans, self.store.facts.list(**owner), zone, today))
        marks.sort(key=lambda m: m.day)
        return Relationship(
            known_since=said[0] if said else None,
            last_talk=said[-1] if said else None,
            days_talked=len({local_day(t, zone) for t in said}),
            milestones=marks,
            upcoming=[p for p in plans if p.due_at >= now or p.kind == "date"],
            past=[p for p in plans if p.due_at < now and p.kind != "date"],
        )


def birthdays(plans: Sequence[Plan], facts: Sequence[Fact], zone: ZoneInfo,
              today: date) -> list[Milestone]:
    """The birthdays the person told of (as dates, or in facts about them), each on its
    next day from `today`."""
    now = datetime(today.year, today.month, today.day, tzinfo=zone)
    found = {(local_day(p.due_at, zone), p.text) for p in plans
             if p.kind == "date" and p.status != "cancelled"}
    for fact in facts:  # "Minji's birthday is on 3 May." (a fact written or extracted)
        found.update((local_day(f.due, zone), f.text)
                     for f in finder.find_plans(fact.text, now=now) if f.kind == "date")
    marks = {}
    for day, text in found:
        if "birthday" in text.lower():
            day = yearly_on_or_after(day, today)
            marks.setdefault(day, Milestone("birthday", day, text))
    return list(marks.values())


def yearly_on_or_after(day: date, today: date) -> date:
    """The next time a yearly date comes round, today included (29 February: the 28th)."""
    for year in (today.year, today.year + 1):
        try:
            candidate = day.replace(year=year)
        except ValueError:
            candidate = day.replace(year=year, day=28)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable: next year's date is after today")


def next_year(plan: Plan, zone: ZoneInfo) -> float:
    """A yearly date's next occurrence after the one due."""
    day = local_day(plan.due_at, zone)
    try:
        later = day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        later = day.replace(year=day.year + 1, day=28)
    return midnight(later, zone)

