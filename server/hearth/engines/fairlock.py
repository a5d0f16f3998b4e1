"""A lock whose waiters take turns by owner: one person's many requests cannot
starve another's. Within one owner, requests keep their order."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable


class FairLock:
    """An asyncio lock served round-robin across owners, first come first served within one."""

    def __init__(self) -> None:
        self._held = False
        # Owners in the order they get their next turn; each with its waiting requests.
        self._ring: dict[Hashable, deque[asyncio.Future[None]]] = {}

    def waiting(self, owner: Hashable | None = None) -> int:
        if owner is not None:
            return len(self._ring.get(owner, ()))
        return sum(len(q) for q in self._ring.values())

    async def acquire(self, owner: Hashable) -> None:
        if not self._held and not self._ring:
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ring.setdefault(owner, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the turn came just as we were cancelled: pass it on
            else:
                self._forget(owner, turn)
            raise

    def release(self) -> None:
        while self._ring:
            owner = next(iter(self._ring))
            queue = self._ring.pop(owner)
            turn = queue.popleft()
            if queue:
                self._ring[owner] = queue  # back of the ring: the others go first
            if not turn.done():
                turn.set_result(None)
                return
        self._held = False

    def _forget(self, owner: Hashable, turn: asyncio.Future[None]) -> None:
        queue = self._ring.get(owner)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._ring[owner]
