"""`GET /api/events`: the asking person's messages, live, as Server-Sent Events.

Every message stored in one of their conversations (their turns, replies and swipes,
greetings, replies cut by barge-in, messages the character started) arrives as
`event: message` with the message's JSON, on every device they have listening. A
`: ping` comment every 15 s keeps proxies from closing a quiet stream.

Each event's `id:` is the highest message id the stream has sent: a client that
reconnects with `Last-Event-ID` (browsers do it themselves) or `?after=` first gets
what was stored after it. A message changed later (a swipe, a cut reply) keeps its
old id, so it is not sent again on resume; the conversation's messages have it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.schemas import Id, MessageOut
from hearth.api.streaming import STREAM_HEADERS
from hearth.services import Services
from hearth.store import Message

router = APIRouter(prefix="/api", tags=["events"])

PING_SECONDS = 15.0
RETRY_MS = 3000  # how soon a browser reconnects after the stream ends
RESUME_BATCH = 200  # missed messages read from the store at a time


@router.get(
    "/events", response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "`event: message` frames whose data is a message's JSON."}},
)
async def events(
    user: CurrentUser, services: ServicesDep,
    last_event_id: Annotated[Id | None, Header(
        description="Resume: the last `id:` this client got (browsers send it on reconnect).")
    ] = None,
    after: Annotated[Id | None, Query(
        description="Resume from this message id, as Last-Event-ID (which wins if both).")
    ] = None,
) -> StreamingResponse:
    """The person's messages as they are stored, whoever started them (Server-Sent Events)."""
    since = last_event_id if last_event_id is not None else after
    return StreamingResponse(_stream(services, user.id, since), media_type="text/event-stream",
                             headers=STREAM_HEADERS)


def _frame(message: Message, high: int) -> str:
    data = json.dumps(MessageOut.of(message).model_dump(mode="json"), ensure_ascii=False)
    return f"id: {high}\nevent: message\ndata: {data}\n\n"


async def _stream(services: Services, user_id: int, since: int | None) -> AsyncIterator[str]:
    # Subscribed before the store is read, so nothing stored in between is missed; what
    # both give is sent once. Ended by the client leaving (Starlette cancels this), the
    # feed closing at shutdown, or falling too far behind (the client resumes).
    async with services.feed.subscribe(user_id) as subscription:
        yield f"retry: {RETRY_MS}\n\n"
        high = since or 0
        resumed: dict[int, Message] = {}  # the newest read: only these can come live too
        while since is not None:
            missed = await asyncio.to_thread(services.store.messages.after, high,
                                             user_id=user_id, limit=RESUME_BATCH)
            resumed = {message.id: message for message in missed}
            for message in missed:
                high = max(high, message.id)
                yield _frame(message, high)
            if len(missed) < RESUME_BATCH:
                break
        live = aiter(subscription)
        while True:
            try:
                message = await asyncio.wait_for(anext(live), PING_SECONDS)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            except StopAsyncIteration:
                break
            if resumed.pop(message.id, None) == message:
                continue
            high = max(high, message.id)
            yield _frame(message, high)
        if subscription.overflowed:
            yield ": this stream fell too far behind; reconnect to resume\n\n"
