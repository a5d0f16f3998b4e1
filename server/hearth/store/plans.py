"""The person's dated plans and yearly dates, each with the messages it came from."""

from __future__ import annotations

import builtins  # the `list` method below hides the type in later annotations
import json
import sqlite3
import time
from collections.abc import Sequence

from hearth.errors import NotFound
from hearth.store.db import Repository
from hearth.store.records import Plan

EDITABLE = ("text", "due_at", "all_day", "status", "followed_up_at")


def plan_of(row: sqlite3.Row) -> Plan:
    return Plan(
        id=row["id"], user_id=row["user_id"], character_id=row["character_id"],
        conversation_id=row["conversation_id"], text=row["text"], kind=row["kind"],
        due_at=row["due_at"], all_day=bool(row["all_day"]), status=row["status"],
        source_message_ids=json.loads(row["source_message_ids"]),
        followed_up_at=row["followed_up_at"], created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class Plans(Repository):
    def add(self, *, user_id: int, character_id: int, conversation_id: int, text: str,
            kind: str, due_at: float, all_day: bool, source_message_ids: Sequence[int]) -> Plan:
        now = time.time()
        with self.db.tx() as db:
            cur = db.execute(
                "INSERT INTO plans (user_id, character_id, conversation_id, text, kind, due_at, "
                "all_day, status, source_message_ids, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'upcoming', ?, ?, ?)",
                (user_id, character_id, conversation_id, text, kind, due_at, int(all_day),
                 json.dumps(list(source_message_ids)), now, now))
        return self.get(cur.lastrowid, user_id=user_id)  # type: ignore[arg-type]

    def get(self, plan_id: int, *, user_id: int) -> Plan:
        row = self.db.one("SELECT * FROM plans WHERE id = ? AND user_id = ?", plan_id, user_id)
        if row is None:
            raise NotFound(f"no plan with id {plan_id}; list yours at /api/plans")
        return plan_of(row)

    def list(self, *, user_id: int, character_id: int | None = None,
             conversation_id: int | None = None, status: str | None = None) -> builtins.list[Plan]:
        """The person's plans, soonest first (optionally of one character or conversation)."""
        rows = self.db.all(
            "SELECT * FROM plans WHERE user_id = ? AND character_id = coalesce(?, character_id) "
            "AND conversation_id = coalesce(?, conversation_id) AND status = coalesce(?, status) "
            "ORDER BY due_at, id", user_id, character_id, conversation_id, status)
        return [plan_of(r) for r in rows]

    def due(self, *, before: float, after: float) -> builtins.list[Plan]:
        """Everyone's upcoming plans due in [after, before), not yet followed up."""
        rows = self.db.all(
            "SELECT * FROM plans WHERE status = 'upcoming' AND followed_up_at IS NULL "
            "AND due_at >= ? AND due_at < ? ORDER BY due_at, id", after, before)
        return [plan_of(r) for r in rows]

    def update(self, plan_id: int, *, user_id: int, **changes: object) -> Plan:
        """Change some of EDITABLE's fields of one of the person's plans."""
        sets = {k: v for k, v in changes.items() if k in EDITABLE}
        if len(sets) != len(changes):
            raise ValueError(f"only {EDITABLE} can change, not {sorted(set(changes) - set(sets))}")
        with self.db.tx() as db:
            cur = db.execute(
                f"UPDATE plans SET {''.join(f'{k} = ?, ' for k in sets)}updated_at = ? "
                "WHERE id = ? AND user_id = ?", (*sets.values(), time.time(), plan_id, user_id))
        if cur.rowcount == 0:
            raise NotFound(f"no plan with id {plan_id}; list yours at /api/plans")
        return self.get(plan_id, user_id=user_id)

    def delete(self, plan_id: int, *, user_id: int) -> None:
        with self.db.tx() as db:
            cur = db.execute("DELETE FROM plans WHERE id = ? AND user_id = ?", (plan_id, user_id))
        if cur.rowcount == 0:
            raise NotFound(f"no plan with id {plan_id}; list yours at /api/plans")
