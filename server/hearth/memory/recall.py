"""Hybrid recall: dense (Chroma) and lexical (SQLite FTS5) candidates fused by rank.

Reciprocal rank fusion needs no score calibration between the two retrievers.
On top of it: memories from a time the message speaks of ("last week", "in
May") are fetched separately and preferred; recency and importance only break
near-ties; and the turn beside a recalled message (the answer to a question,
the question to an answer) follows it, ranked just below.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from hearth.engines.embed import Embedder
from hearth.memory.index import MemoryIndex
from hearth.memory.timeref import resolve
from hearth.store import Store

RRF_K = 60
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have he her "
    "hers him his how i if in into is it its just me my of on or our she so than that the "
    "their them then there these they this to too us was we were what when where which who "
    "whom why will with would you your yours about after again all also am any because before "
    "being both did doing down during each few further here himself herself itself more most "
    "myself no nor not now off once only other ours ourselves out over own same should some "
    "such themselves through under until up very while yourself yourselves ever tell know "
    "remember said say think".split()
)


@dataclass(frozen=True)
class Recalled:
    id: str  # "m12" message, "f3" fact, "s4" summary
    kind: str
    text: str
    ts: float  # when it was said
    role: str | None
    message_ids: tuple[int, ...]
    score: float


def lexical_query(text: str) -> str | None:
    """An FTS5 OR-query of the message's content words, or None when it has none."""
    words = {w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS}
    return " OR ".join(f'"{w}"' for w in sorted(words)) or None


class Recaller:
    def __init__(
        self, *, store: Store, index: MemoryIndex, embedder: Embedder, candidates: int = 60
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.candidates = candidates

    def recall(
        self,
        query: str,
        *,
        user_id: int,
        character_id: int,
        now: datetime,
        exclude: Collection[str] = (),
        limit: int = 40,
    ) -> list[Recalled]:
        """Memories for `query`, best first; none of `exclude`, none of another user's."""
        embedding = self.embedder.embed([query])[0]
        owner = {"user_id": user_id, "character_id": character_id}
        ranked: list[list[str]] = []
        found: dict[str, Recalled] = {}

        def take(hits: list) -> list[str]:  # noqa: ANN001 - index hits
            for hit in hits:
                item = hit.item
                found.setdefault(item.id, Recalled(
                    item.id, item.kind, item.text, item.ts, item.role, item.message_ids, 0.0))
            return [hit.item.id for hit in hits]

        ranked.append(take(self.index.query(embedding, k=self.candidates, **owner)))
        span = resolve(query, now=now)
        timed: list[str] = []
        if span is not None:
            timed = take(self.index.query(
                embedding, k=self.candidates, since=span.start, until=span.end, **owner))
            ranked.append(timed)
        fts = lexical_query(query)
        if fts is not None:
            ids = self.store.search_messages(fts, limit=self.candidates, **owner)
            ranked.append([f"m{i}" for i in ids])
            missing = [i for i in ids if f"m{i}" not in found]
            for message, _, _ in self.store.memory_rows(ids=missing) if missing else []:
                found[f"m{message.id}"] = Recalled(
                    f"m{message.id}", "message", message.content, message.created_at,
                    message.role, (message.id,), 0.0)

        scores: dict[str, float] = {}
        for ids in ranked:
            for rank, memory_id in enumerate(ids):
                scores[memory_id] = scores.get(memory_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        newest = now.timestamp()
        for memory_id in scores:
            memory = found[memory_id]
            age_days = max(0.0, newest - memory.ts) / 86400
            # Tie-breakers, an order of magnitude below one rank step of fusion.
            scores[memory_id] += 2e-5 * math.exp(-age_days / 30) + 2e-5 * min(
                1.0, len(memory.text) / 400)
            if memory_id in set(timed):
                scores[memory_id] += 1.0 / RRF_K  # the time the user asked about comes first

        best = sorted((i for i in scores if i not in exclude), key=scores.__getitem__, reverse=True)
        result = [
            Recalled(m.id, m.kind, m.text, m.ts, m.role, m.message_ids, scores[m.id])
            for m in (found[i] for i in best[:limit])
        ]
        return self._with_neighbours(result, exclude, limit)

    def _with_neighbours(
        self, hits: list[Recalled], exclude: Collection[str], limit: int
    ) -> list[Recalled]:
        """Follow each recalled message with the turn that completes its exchange."""
        taken = {h.id for h in hits} | set(exclude)
        out: list[Recalled] = []
        for hit in hits:
            out.append(hit)
            if hit.kind != "message" or len(out) >= limit:
                continue
            neighbour = self.store.neighbour(hit.message_ids[0], after=hit.role == "user")
            if neighbour is not None and f"m{neighbour.id}" not in taken:
                taken.add(f"m{neighbour.id}")
                out.append(Recalled(
                    f"m{neighbour.id}", "message", neighbour.content, neighbour.created_at,
                    neighbour.role, (neighbour.id,), hit.score * 0.99))
        return out[: limit * 2]
