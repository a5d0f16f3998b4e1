"""A chat turn as an HTTP answer: a stream of Server-Sent Events, or the whole reply at once.

The native API and the OpenAI-compatible one answer a turn the same way and differ only
in how they write it on the wire, so each route gives a `WireFormat` and `respond` does
the rest: errors before the user's message is stored become a 4xx, errors mid-stream
become the format's error frame, and a client that leaves closes the turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing, suppress
from typing import Protocol, TypeVar

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from hearth.chat import TurnEvent, TurnFinished, TurnStarted, TurnStream
from hearth.errors import HearthError

log = logging.getLogger(__name__)

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DISCONNECT_POLL_S = 0.25  # how often a non-streamed turn looks for a client that left

Reply_co = TypeVar("Reply_co", covariant=True)
Reply = TypeVar("Reply")


class WireFormat(Protocol[Reply_co]):
    def frames(self, event: TurnEvent) -> Iterable[str]:
        """What the stream sends for one event of the turn (possibly nothing)."""
        ...

    def error(self, code: str, message: str) -> str:
        """The frame that ends a stream whose turn failed."""
        ...

    def end(self) -> Iterable[str]:
        """What the stream sends after the turn's last event."""
        ...

    def reply(self, first: TurnStarted, last: TurnFinished) -> Reply_co:
        """The whole answer, when the client did not ask for a stream."""
        ...


async def respond(events: TurnStream, wire: WireFormat[Reply], *, stream: bool,
                  headers: dict[str, str] | None = None,
                  request: Request | None = None) -> Response | Reply:
    """With `request`, a client that leaves before a whole (non-streamed) reply is ready
    closes the turn too, as a stream's does."""
    # Pull the first event here: errors raised before anything is stored become a 4xx.
    first = await anext(events)
    assert isinstance(first, TurnStarted)
    if stream:
        return StreamingResponse(_stream(first, events, wire), media_type="text/event-stream",
                                 headers={**(headers or {}), **STREAM_HEADERS})
    whole = asyncio.ensure_future(_whole(first, events, wire))
    try:
        while request is not None:
            done, _ = await asyncio.wait({whole}, timeout=DISCONNECT_POLL_S)
            if done:
                break
            if await request.is_disconnected():
                log.info("the client left before the reply was ready; generation stopped")
                return Response(status_code=499)  # nobody reads it
        return await whole
    finally:
        if not whole.done():
            whole.cancel()  # closes the turn: the reply so far is kept, `interrupted`
            with suppress(asyncio.CancelledError):
                await whole


async def _whole(first: TurnStarted, events: TurnStream, wire: WireFormat[Reply]) -> Reply:
    async with aclosing(events):
        async for event in events:
            if isinstance(event, TurnFinished):
                return wire.reply(first, event)
    raise RuntimeError("turn ended without a reply")


async def _stream(first: TurnStarted, events: TurnStream,
                  wire: WireFormat[object]) -> AsyncIterator[str]:
    async with aclosing(events):
        for frame in wire.frames(first):
            yield frame
        while True:
            try:
                event = await anext(events)
            except StopAsyncIteration:
                break
            except HearthError as e:
                yield wire.error(e.code, e.message)
                return
            except Exception:
                log.exception("reply failed mid-stream")
                yield wire.error("internal_error", "the reply failed on the server; see its log")
                return
            for frame in wire.frames(event):
                yield frame
    for frame in wire.end():
        yield frame
