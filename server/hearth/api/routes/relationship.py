"""The person's plans and dates, and what they share with a character."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.schemas import Id, iso
from hearth.errors import InvalidInput
from hearth.store import Plan

router = APIRouter(prefix="/api", tags=["relationship"])

PlanStatus = Literal["upcoming", "done", "cancelled"]


class PlanOut(BaseModel):
    id: int
    conversation_id: int
    character_id: int
    text: str
    kind: Literal["plan", "date"] = Field(description="'date': yearly, like a birthday.")
    due_at: datetime
    all_day: bool
    status: PlanStatus
    source_message_ids: list[int]
    followed_up: bool = Field(description="The character has asked how it went.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Plan) -> PlanOut:
        return cls(id=p.id, conversation_id=p.conversation_id, character_id=p.character_id,
                   text=p.text, kind=p.kind, due_at=iso(p.due_at),  # type: ignore[arg-type]
                   all_day=p.all_day, status=p.status,  # type: ignore[arg-type]
                   source_message_ids=p.source_message_ids,
                   followed_up=p.followed_up_at is not None, created_at=iso(p.created_at),
                   updated_at=iso(p.updated_at))


class PlanPatch(BaseModel):
    text: str | None = Field(None, max_length=500)
    due_at: datetime | None = Field(None, description="ISO 8601 with a UTC offset.")
    all_day: bool | None = None
    status: PlanStatus | None = None


class MilestoneOut(BaseModel):
    kind: Literal["first_conversation", "anniversary", "birthday"]
    date: date
    label: str


class RelationshipOut(BaseModel):
    known_since: datetime | None = Field(description="The person's first message to the "
                                         "character.")
    last_talk: datetime | None
    days_talked: int = Field(description="Days (in the person's time zone) they talked.")
    milestones: list[MilestoneOut]
    upcoming: list[PlanOut]
    past: list[PlanOut]


@router.get("/plans")
def list_plans(services: ServicesDep, user: CurrentUser, status: PlanStatus | None = None,
               conversation_id: Id | None = None) -> list[PlanOut]:
    """Your plans and dates, soonest first, as the characters found them in what you said."""
    plans = services.store.plans.list(user_id=user.id, status=status,
                                      conversation_id=conversation_id)
    return [PlanOut.of(p) for p in plans]


@router.patch("/plans/{plan_id}")
def edit_plan(services: ServicesDep, user: CurrentUser, plan_id: Id,
              body: PlanPatch) -> PlanOut:
    """Correct a plan: its words, its time, or its status (cancelled: never asked about)."""
    if body.due_at is not None and body.due_at.tzinfo is None:
        raise InvalidInput("due_at: give a UTC offset, e.g. 2026-12-04T10:00:00+09:00")
    plan = services.chat.plans.edit(
        plan_id, user=user, text=body.text, all_day=body.all_day, status=body.status,
        due_at=body.due_at.timestamp() if body.due_at is not None else None)
    return PlanOut.of(plan)


@router.delete("/plans/{plan_id}", status_code=204)
def delete_plan(services: ServicesDep, user: CurrentUser, plan_id: Id) -> Response:
    services.store.plans.delete(plan_id, user_id=user.id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/relationship")
def relationship(services: ServicesDep, user: CurrentUser,
                 conversation_id: Id) -> RelationshipOut:
    """What you and this conversation's character share: since when, how often, the days
    to mark, and your plans with it."""
    conversation = services.store.conversations.get(conversation_id, user_id=user.id)
    shared = services.chat.plans.relationship(user, conversation, now=time.time())
    return RelationshipOut(
        known_since=iso(shared.known_since) if shared.known_since else None,
        last_talk=iso(shared.last_talk) if shared.last_talk else None,
        days_talked=shared.days_talked,
        milestones=[MilestoneOut(kind=m.kind, date=m.day, label=m.label)  # type: ignore[arg-type]
                    for m in shared.milestones],
        upcoming=[PlanOut.of(p) for p in shared.upcoming],
        past=[PlanOut.of(p) for p in shared.past],
    )
