"""STAND-IN for GET /api/events, for the web client's tests (branch `web`), to the shape
in the brief for issue 15; the real one is built on the `events` branch. DROP THIS FILE
(and its two lines in app.py) at merge time. Deliberately minimal: it polls the store.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.schemas import MessageOut
from hearth.store.messages import message_of

router = APIRouter(prefix="/api", tags=["stand-in"])


@router.get("/events")
async def events(request: Request, services: ServicesDep, user: CurrentUser) -> Response:
    """Every message of the person's conversations stored or changed from now on."""
    def changed(since: float) -> list[Any]:
        rows = services.store.db.all(
            "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE c.user_id = ? AND m.updated_at > ? ORDER BY m.updated_at, m.id",
            user.id, since)
        return [message_of(r) for r in rows]

    async def stream() -> Any:
        since = time.time()
        last_ping = time.monotonic()
        yield ": open\n\n"
        while not await request.is_disconnected():
            for m in await asyncio.to_thread(changed, since):
                since = max(since, m.updated_at)
                yield f"event: message\ndata: {MessageOut.of(m).model_dump_json()}\n\n"
            if time.monotonic() - last_ping > 15:
                last_ping = time.monotonic()
                yield ": ping\n\n"
            await asyncio.sleep(0.3)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})
