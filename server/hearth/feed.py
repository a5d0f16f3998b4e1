"""Stored messages, live, to whoever of their person is listening (in this process).

`Chat` publishes each message it stores (a user turn, a reply or swipe, a greeting, a
reply cut by barge-in, a message the character started); the event stream
(`GET /api/events`), an open voice call and `hearth chat` subscribe for their person.
Publishing is safe from any thread: the store and the turns run in worker threads,
and each subscriber is woken on its own event loop.

A subscriber holds at most `limit` undelivered messages. One that falls further
behind is ended, not grown without bound nor thinned out silently: it gets what it
had, then its iteration stops with `overflowed` set. The event stream then ends and
the client's reconnect (with `Last-Event-ID`) fetches the rest from the store, so
nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType

from hearth.store import Message

log = logging.getLogger(__name__)

SUBSCRIBER_LIMIT = 256  # undelivered messages a subscriber may hold


def started_by_character(message: Message) -> bool:
    """Whether the character sent `message` on its own (a follow-up, a note on a date),
    not in answer to the person: what a call speaks and `hearth chat` shows as it comes."""
    return message.role == "assistant" and message.initiated_by == "character"


class Subscription:
    """One listener's messages, in the order published: `async with` it, then `async for`."""

    def __init__(self, feed: Feed, user_id: int, limit: int) -> None:
        self.feed = feed
        self.user_id = user_id
        self.limit = limit
        self.overflowed = False  # ended because it fell more than `limit` behind
        self._queue: deque[Message] = deque()
        self._ended = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def __aenter__(self) -> Subscription:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.feed._add(self)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.feed._remove(self)
        self._ended = True

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        assert self._wake is not None, "use the subscription in `async with` first"
        while not self._queue:
            if self._ended:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._queue.popleft()

    # -- called from any thread --------------------------------------------------------

    def _post(self, message: Message | None) -> None:
        """Hand a message (None: the end) to the subscriber's loop."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._arrive, message)
        except RuntimeError:  # its loop is closed: nobody is listening any more
            self.feed._remove(self)

    # -- on the subscriber's loop ------------------------------------------------------

    def _arrive(self, message: Message | None) -> None:
        assert self._wake is not None
        if self._ended:
            return
        if message is None:
            self._ended = True
        elif len(self._queue) >= self.limit:
            log.warning("a listener of user %s fell %s messages behind; it is ended",
                        self.user_id, self.limit)
            self.overflowed = self._ended = True
            self.feed._remove(self)
        else:
            self._queue.append(message)
        self._wake.set()


class Feed:
    """Per-person publish/subscribe of stored messages."""

    def __init__(self, limit: int = SUBSCRIBER_LIMIT) -> None:
        self.limit = limit
        self.closed = False
        self._lock = threading.Lock()
        self._listeners: dict[int, set[Subscription]] = {}

    def subscribe(self, user_id: int) -> Subscription:
        """The messages stored for `user_id` from now on (use as `async with ... as s`)."""
        return Subscription(self, user_id, self.limit)

    def publish(self, user_id: int, message: Message) -> None:
        """Tell `user_id`'s listeners about `message`, just stored. Any thread; never blocks."""
        with self._lock:
            listeners = list(self._listeners.get(user_id, ()))
        for listener in listeners:
            listener._post(message)

    def listeners(self, user_id: int) -> int:
        with self._lock:
            return len(self._listeners.get(user_id, ()))

    def close(self) -> None:
        """End every subscription, now and to come: the server is stopping, and open
        event streams must end for it to stop."""
        with self._lock:
            self.closed = True
            listeners = [s for group in self._listeners.values() for s in group]
            self._listeners.clear()
        for listener in listeners:
            listener._post(None)

    def _add(self, subscription: Subscription) -> None:
        with self._lock:
            if not self.closed:
                self._listeners.setdefault(subscription.user_id, set()).add(subscription)
                return
        subscription._ended = True

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            group = self._listeners.get(subscription.user_id)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del self._listeners[subscription.user_id]
