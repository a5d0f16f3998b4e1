"""Conversation factories shared by tests: dated filler history, window text, turns in order."""

from __future__ import annotations

import asyncio
from typing import Any

from hearth.chat import ImportItem, TurnFinished
from hearth.context import Window

DAY = 86400
FILLER = [
    "The weather was grey again this morning.", "I watched a documentary about octopuses.",
    "Work was fine, just a lot of meetings.", "We had pasta for dinner.",
    "I started reading a new mystery novel.", "The neighbours are painting their fence.",
    "I went for a short run in the park.", "My phone needs a new charger.",
]


def history(n: int, start: float, said: dict[int, str] | None = None) -> list[ImportItem]:
    """n turns, one every ten minutes from `start`; `said` puts given user lines at given turns."""
    items = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        text = (said or {}).get(i) or (FILLER[i % len(FILLER)] if role == "user"
                                       else "That sounds nice, tell me more.")
        items.append(ImportItem(role, text, start + i * 600))
    return items


def window_text(window: Window) -> str:
    return "\n".join(m.content for m in window.messages)


def replies(services: Any, user: Any, turns: list[tuple[int, str]]) -> list[TurnFinished]:
    """Send (conversation id, text) turns in order, letting background work finish after each."""
    async def run() -> list[TurnFinished]:
        done = []
        for conversation_id, content in turns:
            events = [e async for e in services.chat.send(user, conversation_id, content)]
            await services.jobs.join()
            done.append(events[-1])
        await services.jobs.close()
        return done

    return asyncio.run(run())
