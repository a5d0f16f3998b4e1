"""Precision and recall of plan extraction on the labelled histories, per split.

    PYTHONPATH=server python scripts/relationship_eval.py [-v] [--split tune|heldout|fresh] [--data FILE]

Each user message is read at its own time in the history's zone: first the changes
it makes to the plans found so far (``find_changes``), then its new plans
(``find_plans`` told the known plans, so a change is not also a new plan). The final
plans are compared with ``expected``: a plan counts when it is about the same
message, its status is the same, and its due is on the same local day (all-day
expected) or the same minute (clock time expected). ``replay`` and ``score`` are for
``bench_relationship.py`` to reuse.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hearth.relationship.plans import Found, find_changes, find_plans

DATA = Path(__file__).parent / "data" / "relationship_histories.json"


@dataclass
class Plan:
    id: int
    text: str
    due_at: float
    all_day: bool
    kind: str
    status: str
    about: int  # index of the message that stated it


def load(path: Path = DATA) -> list[dict[str, Any]]:
    histories: list[dict[str, Any]] = json.loads(path.read_text())["histories"]
    return histories


def out(line: str) -> None:
    sys.stdout.write(line + "\n")


def local(iso: str, tz: ZoneInfo) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=tz)


def replay(history: dict[str, Any], keep: Callable[[Found], bool] | None = None) -> list[Plan]:
    """The plans extraction ends with after reading the history's user messages
    (``keep``: a gate each new plan must pass, as PlanBook's)."""
    tz = ZoneInfo(history["user_tz"])
    plans: list[Plan] = []
    for i, msg in enumerate(history["messages"]):
        if msg["role"] != "user":
            continue
        now = local(msg["at"], tz)
        changes = find_changes(msg["content"], now=now, plans=plans)
        found = find_plans(msg["content"], now=now, plans=plans)
        if keep is not None:
            found = [f for f in found if keep(f)]
        by_id = {p.id: p for p in plans}
        for c in changes:
            p = by_id[int(c.plan_id)]
            p.status = c.status
            if c.due is not None:
                p.due_at = c.due
                p.all_day = bool(c.all_day) if c.all_day is not None else p.all_day
        for f in found:
            plans.append(Plan(len(plans) + 1, f.text, f.due, f.all_day, f.kind, "upcoming", i))
    return plans


def matches(p: Plan, e: dict[str, Any], tz: ZoneInfo) -> bool:
    if p.about != e["about_message_index"] or p.status != e["final_status"]:
        return False
    want = local(e["due"], tz)
    if e["all_day"]:
        return datetime.fromtimestamp(p.due_at, tz).date() == want.date()
    return abs(p.due_at - want.timestamp()) < 60


def score(histories: list[dict[str, Any]], *, verbose: bool = False,
          keep: Callable[[Found], bool] | None = None) -> dict[str, float]:
    predicted = expected = hits = 0
    for h in histories:
        tz = ZoneInfo(h["user_tz"])
        got = replay(h, keep)
        want = list(h["expected"])
        unmatched = list(got)
        missed = []
        for e in want:
            hit = next((p for p in unmatched if matches(p, e, tz)), None)
            if hit is None:
                missed.append(e)
            else:
                unmatched.remove(hit)
        predicted += len(got)
        expected += len(want)
        hits += len(want) - len(missed)
        if verbose and (missed or unmatched):
            out(f"{h['id']} ({h['split']}, {h['user_tz']})")
            for e in missed:
                out(f"  missed  #{e['about_message_index']} {e['text']!r} {e['due']} "
                      f"{e['final_status']}")
            for p in unmatched:
                due = datetime.fromtimestamp(p.due_at, tz).isoformat(timespec="minutes")
                out(f"  extra   #{p.about} {p.text!r} {due} all_day={p.all_day} {p.status}")
    return {
        "histories": len(histories),
        "expected": expected,
        "predicted": predicted,
        "matched": hits,
        "precision": hits / predicted if predicted else 1.0,
        "recall": hits / expected if expected else 1.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="show each miss and extra")
    ap.add_argument("--split", help="only this split (tune, heldout, fresh)")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    histories = load(args.data)
    for split in dict.fromkeys(h["split"] for h in histories):
        if args.split and split != args.split:
            continue
        part = [h for h in histories if h["split"] == split]
        r = score(part, verbose=args.verbose)
        sys.stdout.write(
            f"{split:8} histories={r['histories']:3} expected={r['expected']:3} "
            f"predicted={r['predicted']:3} matched={r['matched']:3} "
            f"precision={r['precision']:.3f} recall={r['recall']:.3f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
