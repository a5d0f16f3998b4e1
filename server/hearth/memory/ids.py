"""Memory ids: the names the index, the notes and the context builder give a memory.

A message is "m12", a fact "f3", a conversation's summary "s7" (by conversation id),
a lorebook entry "lore:2" (by its place in the book). They are strings because
Chroma's ids are, and they are stored in notes; this module is the one place that
writes or reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["message", "fact", "summary", "lore"]

_PREFIXES: dict[Kind, str] = {"message": "m", "fact": "f", "summary": "s", "lore": "lore:"}


@dataclass(frozen=True)
class MemoryId:
    kind: Kind
    number: int  # the message, fact or conversation id; a lorebook entry's index

    def __str__(self) -> str:
        return f"{_PREFIXES[self.kind]}{self.number}"


def message(message_id: int) -> str:
    return str(MemoryId("message", message_id))


def fact(fact_id: int) -> str:
    return str(MemoryId("fact", fact_id))


def summary(conversation_id: int) -> str:
    return str(MemoryId("summary", conversation_id))


def lore(entry_index: int) -> str:
    return str(MemoryId("lore", entry_index))


def parse(memory_id: str) -> MemoryId:
    """The kind and number of a memory id; ValueError for anything else."""
    for kind, prefix in _PREFIXES.items():
        digits = memory_id.removeprefix(prefix)
        if digits != memory_id and digits.isdigit() and digits.isascii():
            return MemoryId(kind, int(digits))
    raise ValueError(f"not a memory id: {memory_id!r}")


def numbers(memory_ids: Iterable[str], kind: Kind) -> list[int]:
    """The numbers of the ids of one kind, in order; ids of other kinds are skipped."""
    return [p.number for p in map(parse, memory_ids) if p.kind == kind]
