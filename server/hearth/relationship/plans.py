"""PLACEHOLDER until the plans branch lands: replaced at merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Found:
    text: str
    due: float
    all_day: bool
    kind: str
    phrase: str


@dataclass(frozen=True)
class Change:
    plan_id: int
    status: str
    due: float | None = None
    all_day: bool | None = None


def find_plans(text: str, *, now: datetime) -> list[Found]:
    return []


def find_changes(text: str, *, now: datetime, plans: Sequence[Any]) -> list[Change]:
    return []
