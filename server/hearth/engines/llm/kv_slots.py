"""Where the local model keeps the KV caches of conversations it is not serving, so
interleaved conversations do not re-evaluate their whole prompt each time they take
turns, and a new one can start from a copy of the closest; and `keep_heap_small`,
which keeps that copying from growing the heap."""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Parked:
    slot: int
    size: int
    tokens: list[int]
    user: Hashable  # whose requests may start from a copy of it


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens `a` and `b` share from the start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Gap:
    """`cached[start:end]` is missing from the new prompt, which goes on with the `kept`
    tokens that followed it: the oldest turns a full window dropped."""

    start: int
    end: int
    kept: int


def find_gap(cached: Sequence[int], tokens: Sequence[int]) -> Gap | None:
    """Where `tokens` is `cached` less one stretch after their shared start (the one that
    keeps the most of `cached`), or None."""
    start = shared_prefix(cached, tokens)
    if start >= len(cached) or start >= len(tokens):
        return None
    rest = tokens[start:]
    best: Gap | None = None
    for end in range(start + 1, len(cached)):
        if cached[end] != rest[0] or (best is not None and len(cached) - end <= best.kept):
            continue
        kept = shared_prefix(cached[end:], rest)
        if best is None or kept > best.kept:
            best = Gap(start, end, kept)
    return best


class ParkedCaches:
    """The KV caches of conversations not being served, most recent first.

    Each has a slot of one full window's bytes, allocated and touched when the
    model loads, and llama.cpp copies straight in and out of it: the memory is
    taken once and stays flat however conversations come and go. The least
    recently served conversation gives up its slot to a newer one.
    """

    def __init__(self, slots: int, slot_bytes: int) -> None:
        self.slot_bytes = slot_bytes
        self._slots = [(ctypes.c_uint8 * slot_bytes)() for _ in range(slots)]
        for slot in self._slots:
            ctypes.memset(slot, 0, slot_bytes)  # make it resident now, not as caches grow
        self._free = list(range(slots))
        self._parked: OrderedDict[str, _Parked] = OrderedDict()
        if slots:
            log.info("keeping %d conversations' KV caches, %.0f MiB each",
                     slots, slot_bytes / 2**20)

    def __contains__(self, session: str | None) -> bool:
        return session in self._parked

    def park(self, session: str, ctx: object, tokens: list[int], user: Hashable,
             keep: str | None) -> None:
        """Copy sequence 0's cache out for `session`, evicting any but `keep` (restored next)."""
        import llama_cpp

        if session in self._parked:
            self._free.append(self._parked.pop(session).slot)
        if not self._free:
            oldest = next((s for s in self._parked if s != keep), None)
            if oldest is None:
                return
            self._free.append(self._parked.pop(oldest).slot)
        slot = self._free.pop()
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size > self.slot_bytes:  # cannot happen for one window; never overrun the slot
            log.warning("KV state of %d bytes exceeds its %d-byte slot", size, self.slot_bytes)
            self._free.append(slot)
            return
        written = llama_cpp.llama_state_seq_get_data(ctx, self._slots[slot], self.slot_bytes, 0)
        self._parked[session] = _Parked(slot, written, tokens, user)

    def closest(self, tokens: Sequence[int], user: Hashable) -> tuple[str, int] | None:
        """The parked cache of `user`'s requests sharing the longest prefix with `tokens`,
        and how many tokens it shares; None if none shares any."""
        shared = [(shared_prefix(p.tokens, tokens), s) for s, p in self._parked.items()
                  if p.user == user]
        n, session = max(shared, default=(0, ""))
        return (session, n) if n else None

    def load(self, session: str, ctx: object, keep_parked: bool = False) -> list[int] | None:
        """Load `session`'s cache into sequence 0 and give its tokens, or None if not kept.

        `keep_parked` loads a copy and leaves the slot to `session` (another conversation
        starts from it); otherwise the slot is freed, as `session` is served again.
        """
        import llama_cpp

        parked = self._parked.get(session) if keep_parked else self._parked.pop(session, None)
        if parked is None:
            return None
        if not keep_parked:
            self._free.append(parked.slot)
        loaded = llama_cpp.llama_state_seq_set_data(ctx, self._slots[parked.slot], parked.size, 0)
        return parked.tokens if loaded == parked.size else None


def keep_heap_small() -> None:
    """Ask glibc to hand large freed blocks back to the system.

    Parking a conversation's KV cache copies 10-100 MB in and out of Python on
    every switch. glibc raises its mmap threshold after such blocks are freed and
    then serves them from per-thread heaps it never shrinks, so a busy server's
    memory creeps up. A fixed threshold keeps big blocks mmapped (returned on
    free) and two arenas bound the thread heaps. Not glibc: nothing to do.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: 1 MiB, and no longer adjusted
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass
