"""Memory in the user's hands: the window a message would get, imports, facts, summaries."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query, Response

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.schemas import (
    BlockOut,
    ContextIn,
    ContextOut,
    FactIn,
    FactOut,
    FactPatch,
    Id,
    ImportIn,
    ImportOut,
    MemoryOut,
    SummaryOut,
    WindowMessage,
    iso,
)
from hearth.chat import ImportItem
from hearth.store import Fact

router = APIRouter(prefix="/api", tags=["memory"])


def _fact(f: Fact) -> FactOut:
    return FactOut(id=f.id, character_id=f.character_id, text=f.text,
                   source_message_ids=f.source_message_ids, said_at=iso(f.said_at),
                   updated_at=iso(f.updated_at))


@router.post("/conversations/{conversation_id}/context")
async def context(
    services: ServicesDep, user: CurrentUser, conversation_id: Id, body: ContextIn
) -> ContextOut:
    """The window the model would see for this message (nothing is stored or generated):
    each block with its token count, and the sources of every recalled memory."""
    window = await asyncio.to_thread(services.chat.window, user, conversation_id, body.content)
    return ContextOut(
        n_ctx=services.model.n_ctx,
        reply_reserve=services.chat.context.reply_reserve,
        prompt_tokens=window.tokens,
        turns_dropped=window.turns_dropped,
        messages=[WindowMessage(role=m.role, content=m.content) for m in window.messages],
        blocks=[BlockOut(name=b.name, tokens=b.tokens, message_ids=list(b.message_ids))
                for b in window.blocks],
        memories=[MemoryOut(id=m.id, kind=m.kind, text=m.text, said_at=iso(m.ts),
                            source_message_ids=list(m.message_ids), score=round(m.score, 6))
                  for m in window.memories],
        lorebook=[e.name or e.content[:40] for e in window.lore],
    )


@router.get("/memory/search")
async def search(
    services: ServicesDep, user: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for.")],
    character_id: Id, limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[MemoryOut]:
    """Your memories with a character that best match `q` (hybrid recall, as a turn would)."""
    found = await asyncio.to_thread(services.memories.search, user, q,
                                    character_id=character_id, limit=limit)
    return [MemoryOut(id=m.id, kind=m.kind, text=m.text, said_at=iso(m.ts),
                      source_message_ids=list(m.message_ids), score=round(m.score, 6))
            for m in found]


@router.post("/conversations/{conversation_id}/import", status_code=201)
async def import_history(
    services: ServicesDep, user: CurrentUser, conversation_id: Id, body: ImportIn
) -> ImportOut:
    """Append past history in bulk (all or nothing), indexed like live messages."""
    items = [
        ImportItem(m.role, m.content,
                   (m.created_at if m.created_at.tzinfo else m.created_at.replace(tzinfo=UTC))
                   .timestamp())
        for m in body.messages
    ]
    ids = await asyncio.to_thread(services.chat.import_messages, user, conversation_id, items)
    return ImportOut(imported=len(ids), message_ids=ids)


@router.get("/conversations/{conversation_id}/summary")
def summary(services: ServicesDep, user: CurrentUser, conversation_id: Id) -> SummaryOut:
    """The rolling summary of what has left the conversation's window."""
    found = services.conversations.summary(user, conversation_id)
    if found is None:
        return SummaryOut(conversation_id=conversation_id, text="", upto_message_id=None,
                          updated_at=None)
    return SummaryOut(conversation_id=conversation_id, text=found.text,
                      upto_message_id=found.upto_message_id, updated_at=iso(found.updated_at))


@router.get("/facts")
def list_facts(
    services: ServicesDep, user: CurrentUser, character_id: Id | None = None
) -> list[FactOut]:
    """What the characters know about you, oldest first."""
    return [_fact(f) for f in services.memories.facts(user, character_id)]


@router.post("/facts", status_code=201)
def add_fact(services: ServicesDep, user: CurrentUser, body: FactIn) -> FactOut:
    return _fact(services.memories.add_fact(user, character_id=body.character_id,
                                            text=body.text))


@router.patch("/facts/{fact_id}")
def edit_fact(services: ServicesDep, user: CurrentUser, fact_id: Id, body: FactPatch) -> FactOut:
    return _fact(services.memories.edit_fact(user, fact_id, body.text))


@router.delete("/facts/{fact_id}", status_code=204)
def delete_fact(services: ServicesDep, user: CurrentUser, fact_id: Id) -> Response:
    services.memories.delete_fact(user, fact_id)
    return Response(status_code=204)
