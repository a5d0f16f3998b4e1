#!/usr/bin/env python3
"""Follow-ups on a simulated clock: the real plan finder and scheduler over labelled histories.

Each labelled history (scripts/data/relationship_histories*.json) is one person (in
their own time zone) talking with the default character. Their messages are stored at
the times written there, each user message read for plans as a live turn reads it;
meanwhile a simulated clock steps every 10 minutes through two weeks from the history's
start (longer when a labelled plan falls later) and the real scheduler
(relationship/outreach.py) runs at every step, writing what is due with the real chat
model. The simulated person answers a message the character started an hour
later ("Thanks for asking!"), as people do, so the next one may come.

A follow-up is right when it is about the plan's message, sent after the plan's time
and within 24 h of it (for a plan of a whole day: of the end of that day), outside
quiet hours. Reported per split: `tune` and `heldout` (one writer, who also wrote the
rules), `fresh` and `fresh2` (written blind, then tuned on), `fresh3` (blind; the rules
were not tuned on it, a rejected gate experiment was) and `fresh4` (blind, never tuned
on: the honest figure):

    precision   right follow-ups / follow-ups sent
    recall      right follow-ups / plans that should be followed up
    duplicates  follow-ups beyond the first for one plan (its message and its time)
    cap         days a conversation got more than relationship.max_per_day started
                messages, and started messages with no answer between them
    quiet       started messages inside the person's quiet hours

Baseline, same run, same scheduler: every future time expression in a user message
is taken as a plan (no distractor rules, no rescheduling or cancelling). Its messages
are not generated (a placeholder text with the same reason is stored): only its
decisions are scored, and writing them would double the run's time.

    python scripts/bench_relationship.py [--data FILE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from benchkit import ROOT, Column, Table, print_json

from hearth.config import load_settings
from hearth.relationship import when
from hearth.relationship.outreach import Outreach
from hearth.relationship.plan_book import PlanBook
from hearth.services import Services
from hearth.store import Conversation, Message, Plan, User

# relationship_histories.json: tune + heldout (one writer, who also wrote the rules);
# *_fresh.json, *_fresh2.json: written blind, by writers who never saw the rules.
DATA = sorted((ROOT / "scripts" / "data").glob("relationship_histories*.json"))
SPAN = 14 * 86400  # two weeks from each history's start
STEP = 10 * 60  # the simulated clock's step
ANSWER_AFTER = 3600  # the simulated person answers a started message an hour later
ANSWER = "Thanks for asking!"
DATE_WORDS = re.compile(r"birthday|anniversary", re.IGNORECASE)


class NaiveBook(PlanBook):
    """The baseline: any future time expression in a user message is a plan."""

    def note(self, message: Message, *, user: User, conversation: Conversation) -> list[Plan]:
        if message.role != "user":
            return []
        now = datetime.fromtimestamp(message.created_at, user.zone)
        return [self.store.plans.add(
            user_id=user.id, character_id=conversation.character_id,
            conversation_id=conversation.id, text=message.content[:80], kind="plan",
            due_at=due.at, all_day=due.all_day, source_message_ids=[message.id])
            for due in [when.find_due(message.content, now=now)] if due is not None]


class DecisionsOnly(Outreach):
    """The baseline's scheduler: the same decisions, a placeholder instead of the model's text."""

    async def check(self, now: float | None = None) -> list[Message]:
        now = self.clock() if now is None else now
        sent = []
        for reach in self.due(now):
            sent.append(self.store.messages.add(
                conversation_id=reach.conversation.id, role="assistant",
                content=f"({reach.kind})", created_at=now, reason=reach.reason))
            if reach.plan is not None:
                self.store.plans.update(reach.plan.id, user_id=reach.user.id, followed_up_at=now)
        return sent


@dataclass
class Run:
    """One history's outcome."""

    history: dict
    zone: ZoneInfo
    ids: list[int] = field(default_factory=list)  # stored id of each scripted message
    started: list[Message] = field(default_factory=list)  # messages the character began
    messages: list[Message] = field(default_factory=list)  # the whole conversation, at the end


def local(text: str, zone: ZoneInfo) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


async def simulate(services: Services, outreach: Outreach, history: dict, n: int) -> Run:
    store, zone = services.store, ZoneInfo(history["user_tz"])
    user = store.people.create(f"person-{n}-{history['id']}", role="member", password_hash=None)
    store.people.set_profile(user.id, timezone=history["user_tz"], display_name="Sam")
    user = store.people.get(user.id)
    start = local(history["start"], zone)
    character = store.characters.list()[0]
    conversation = store.conversations.create(user_id=user.id, character_id=character.id,
                                              title="bench", greetings=[], created_at=start)
    script = sorted(((local(m["at"], zone), i, m) for i, m in enumerate(history["messages"])),
                    key=lambda item: item[0])
    run = Run(history, zone, ids=[0] * len(script))
    answers: list[float] = []
    # Two weeks, or on until every labelled plan's follow-up could have come (the labels
    # only decide how long the clock runs).
    end = max([start + SPAN] + [local(e["due"], zone) + 2 * 86400 for e in history["expected"]])
    t = start
    while t <= end:
        while script and script[0][0] <= t:
            at, index, m = script.pop(0)
            stored = store.messages.add(conversation_id=conversation.id, role=m["role"],
                                        content=m["content"], created_at=at)
            run.ids[index] = stored.id
            services.chat._note_plans(user, conversation, [stored])
        while answers and answers[0] <= t:
            store.messages.add(conversation_id=conversation.id, role="user", content=ANSWER,
                               created_at=answers.pop(0))
        for message in await outreach.check(t):
            run.started.append(message)
            answers.append(t + ANSWER_AFTER)
        t += STEP
    store.people.set_profile(user.id, reach_out=False)  # done: out of the next ones' way
    run.messages = store.messages.list(conversation.id)
    return run


def unanswered(messages: Sequence[Message]) -> int:
    """Started messages that follow another with no word from the person between."""
    count, waiting = 0, False
    for m in messages:
        if m.role == "user":
            waiting = False
        elif m.reason is not None:
            count += waiting
            waiting = True
    return count


def expected_follow_ups(run: Run) -> list[tuple[int, float, float]]:
    """(message id, from, until) for each plan that should be followed up."""
    wanted = []
    for e in run.history["expected"]:
        kind = e.get("kind") or ("date" if DATE_WORDS.search(e["text"]) else "plan")
        if kind != "plan" or e["final_status"] != "upcoming":
            continue
        due = local(e["due"], run.zone)
        end = due + 86400 if e["all_day"] else due  # a day's plan ends with its day
        wanted.append((run.ids[e["about_message_index"]], due, end + 86400))
    return wanted


def quiet(ts: float, zone: ZoneInfo, hours: tuple[int, int]) -> bool:
    t = datetime.fromtimestamp(ts, zone)
    minute, (a, b) = t.hour * 60 + t.minute, hours
    return a <= minute < b if a <= b else minute >= a or minute < b


def score(runs: Sequence[Run], hours: tuple[int, int], max_per_day: int) -> dict[str, float]:
    sent = right = wanted_total = duplicates = cap = in_quiet = 0
    for run in runs:
        wanted = expected_follow_ups(run)
        wanted_total += len(wanted)
        follow_ups = [m for m in run.started if m.reason and m.reason["kind"] == "follow_up"]
        sent += len(follow_ups)
        hit: set[int] = set()
        # One plan: its message and its time (one message can hold two plans).
        per_plan: dict[tuple[object, ...], int] = defaultdict(int)
        for m in follow_ups:
            per_plan[(*m.reason["about"], m.reason["due"])] += 1  # type: ignore[index]
            for message_id, start, until in wanted:
                if message_id in m.reason["about"] and start <= m.created_at < until \
                        and not quiet(m.created_at, run.zone, hours) and message_id not in hit:
                    hit.add(message_id)
                    right += 1
                    break
        duplicates += sum(k - 1 for k in per_plan.values() if k > 1)
        days: dict[object, int] = defaultdict(int)
        for m in run.started:
            days[datetime.fromtimestamp(m.created_at, run.zone).date()] += 1
            in_quiet += quiet(m.created_at, run.zone, hours)
        cap += sum(1 for k in days.values() if k > max_per_day)
        cap += unanswered(run.messages)
    return {
        "histories": len(runs), "expected": wanted_total, "sent": sent, "right": right,
        "precision": right / sent if sent else 1.0,
        "recall": right / wanted_total if wanted_total else 1.0,
        "duplicates": duplicates, "cap_violations": cap, "quiet_violations": in_quiet,
        "started_all_kinds": sum(len(r.started) for r in runs),
    }


async def bench(services: Services, histories: list[dict], naive: bool) -> dict[str, dict]:
    if naive:
        services.chat.plans = NaiveBook(services.store)
    schedule = DecisionsOnly if naive else Outreach
    outreach = schedule(services.store, services.chat, services.settings.relationship)
    runs = [await simulate(services, outreach, h, n) for n, h in enumerate(histories)]
    settings = services.settings.relationship
    hours = settings.quiet or (0, 0)
    splits = dict.fromkeys(h["split"] for h in histories)  # in the order they come
    return {split: score([r for r in runs if r.history["split"] == split], hours,
                         settings.max_per_day)
            for split in splits}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append",
                        help="a file of labelled histories (repeatable; default: every "
                        "scripts/data/relationship_histories*.json)")
    args = parser.parse_args()
    files = args.data or DATA
    histories = [h for f in files for h in json.loads(f.read_text())["histories"]]
    results = {}
    began = time.perf_counter()
    for name, naive in (("hearth", False), ("naive", True)):
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(data_dir=Path(tmp), memory={"enabled": False},
                                     llm={"temperature": 0.0, "seed": 7,
                                          "max_reply_tokens": 48})
            services = Services.start(settings)
            try:
                results[name] = asyncio.run(bench(services, histories, naive))
            finally:
                services.close()
    table = Table(Column("finder", 7, left=True), Column("split", 8, left=True),
                  Column("plans", 6), Column("sent", 5), Column("right", 6),
                  Column("precision", 10, ".3f"), Column("recall", 7, ".3f"),
                  Column("dupl", 5), Column("cap", 4), Column("quiet", 6),
                  Column("all started", 12))
    table.show([(name, split, r["expected"], r["sent"], r["right"], r["precision"],
                 r["recall"], r["duplicates"], r["cap_violations"], r["quiet_violations"],
                 r["started_all_kinds"])
                for name, by_split in results.items() for split, r in by_split.items()])
    print_json({"bench": "relationship", "histories": len(histories),
                "seconds": round(time.perf_counter() - began, 1), **results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
