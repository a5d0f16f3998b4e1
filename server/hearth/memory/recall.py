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
from itertools import zip_longest

from hearth.engines.embed import Embedder
from hearth.errors import NotFound
from hearth.memory import ids as memory_ids
from hearth.memory.index import MemoryIndex
from hearth.memory.timeref import resolve
from hearth.memory.words import cjk_terms, is_cjk
from hearth.store import Store

RRF_K = 60
MIN_CANDIDATES = 24
# Clearly related: above the embedder's strong similarity, or in the top this many
# of both the dense and the lexical lists.
STRONG_RANK = 3
TIME_OVERFETCH = 8  # dense candidates scanned for memories of a named time
SHORT_WORDS = 12  # a recalled message this short brings its neighbouring turn along
FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|me|my|mine|myself)\b")
SECOND_PERSON = re.compile(r"\b(you|you're|you've|your|yours|yourself)\b")
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
    strong: bool = False  # clearly on topic: worth a place even in a small note


def subject_role(query: str, names: tuple[str, str] | None) -> str | None:
    """Whose words a question is about: "user", "assistant", or None for both.

    By name when exactly one of the two is named; otherwise by pronoun when only
    one person is spoken of ("my sister" is the user's, "your garden" the character's).
    """
    text = query.lower()
    if names is not None:
        user, char = (bool(re.search(rf"\b{re.escape(n.lower())}\b", text)) for n in names)
        if user != char:
            return "user" if user else "assistant"
        if user and char:
            return None
    mine, yours = bool(FIRST_PERSON.search(text)), bool(SECOND_PERSON.search(text))
    if mine != yours:
        return "user" if mine else "assistant"
    return None


def search_text(query: str, names: tuple[str, str] | None, phrase: str) -> str:
    """The query without the speakers' names and the time phrase."""
    text = query.replace(phrase, " ") if phrase else query
    for name in names or ():
        text = re.sub(rf"\b{re.escape(name)}(?:'s)?\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def lexical_query(text: str) -> str | None:
    """An FTS5 OR-query of the message's spaced-language content words, or None.

    Korean and Japanese words are searched as substrings instead (`cjk_terms`).
    """
    words = {w for w in _WORD.findall(text.lower())
             if len(w) > 2 and w not in STOPWORDS and not is_cjk(w)}
    return " OR ".join(f'"{w}"' for w in sorted(words)) or None


def _interleave(first: list[str], second: list[str]) -> list[str]:
    """Two ranked lists as one, alternating, each id at its better place."""
    merged = [i for pair in zip_longest(first, second) for i in pair if i is not None]
    return list(dict.fromkeys(merged))


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
        names: tuple[str, str] | None = None,
    ) -> list[Recalled]:
        """Memories for `query`, best first; none of `exclude`, none of another user's.

        `names` (the user's, the character's) lets a question about one of the two
        ("what did Anna say...", "where does my sister live?") prefer that one's words.
        """
        owner = {"user_id": user_id, "character_id": character_id}
        # Enough candidates for what can be used: an ordinary turn adds a few lines.
        candidates = min(self.candidates, max(2 * limit, MIN_CANDIDATES))
        span = resolve(query, now=now)
        # Names of the two speakers are in nearly every memory, and the time phrase is
        # handled by `span`: neither should steer the search for content.
        text = search_text(query, names, span.phrase if span else "")
        embedding = self.embedder.embed([text or query], query=True)[0]
        dense = self.index.nearest(embedding, k=candidates, **owner)
        dense_ids = [i for i, _ in dense]
        fts = lexical_query(text)
        lexical_ids = [memory_ids.message(i) for i in self.store.messages.search(
            fts, limit=candidates, **owner)] if fts is not None else []
        terms = cjk_terms(text)
        if terms:
            lexical_ids = _interleave(lexical_ids, [memory_ids.message(i) for i in (
                self.store.messages.search_substrings(terms, limit=candidates, **owner))])
        wide = [i for i, _ in self.index.nearest(
            embedding, k=candidates * TIME_OVERFETCH, **owner)] if span is not None else []
        found = self._resolve(set(dense_ids) | set(lexical_ids) | set(wide), **owner)

        def in_span(memory_id: str) -> bool:
            return span is not None and span.start <= found[memory_id].ts < span.end

        # Memories of the time the message speaks of: a ranked list of their own.
        timed_ids = [i for i in wide if i in found and in_span(i)]
        scores: dict[str, float] = {}
        for ids in (dense_ids, lexical_ids, timed_ids):
            for rank, memory_id in enumerate(ids):
                if memory_id in found:
                    scores[memory_id] = scores.get(memory_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        newest = now.timestamp()
        for memory_id in scores:
            memory = found[memory_id]
            age_days = max(0.0, newest - memory.ts) / 86400
            # Tie-breakers, an order of magnitude below one rank step of fusion.
            scores[memory_id] += 2e-5 * math.exp(-age_days / 30) + 2e-5 * min(
                1.0, len(memory.text) / 400)
            if in_span(memory_id):
                scores[memory_id] += 1.0 / RRF_K  # ...and first

        best = sorted((i for i in scores if i not in exclude), key=scores.__getitem__, reverse=True)
        role = subject_role(query, names)
        if role is not None:
            # A stable partition: the subject's own words first, each side in fused order.
            best.sort(key=lambda i: found[i].role not in (role, None))
        # Clearly on topic: close in meaning, near the top of both retrievers, or of the
        # named time.
        strong = ({i for i, similarity in dense if similarity >= self.embedder.strong_similarity}
                  | (set(dense_ids[:STRONG_RANK]) & set(lexical_ids[:STRONG_RANK]))
                  | set(timed_ids))
        result = [
            Recalled(m.id, m.kind, m.text, m.ts, m.role, m.message_ids, scores[m.id],
                     strong=m.id in strong)
            for m in (found[i] for i in best[:limit])
        ]
        return self._with_neighbours(result, exclude)

    def _resolve(self, ids: Collection[str], *, user_id: int,
                 character_id: int) -> dict[str, Recalled]:
        """Recalled memories by id, read from SQLite (the record; the index holds vectors).

        Only this user's with this character: an index entry that SQLite says is someone
        else's (a stale index, say just after a restore reused its ids) is dropped.
        """
        found: dict[str, Recalled] = {}
        messages = memory_ids.numbers(ids, "message")
        for row in self.store.messages.owned(ids=messages) if messages else []:
            if (row.user_id, row.character_id) == (user_id, character_id):
                m = row.message
                i = memory_ids.message(m.id)
                found[i] = Recalled(i, "message", m.content, m.created_at, m.role, (m.id,), 0.0)
        facts = memory_ids.numbers(ids, "fact")
        for f in self.store.facts.by_ids(facts) if facts else []:
            if (f.user_id, f.character_id) == (user_id, character_id):
                i = memory_ids.fact(f.id)
                found[i] = Recalled(i, "fact", f.text, f.said_at, None,
                                    tuple(f.source_message_ids), 0.0)
        for conversation_id in memory_ids.numbers(ids, "summary"):
            if not (summary := self.store.summaries.find(conversation_id)):
                continue
            try:
                conversation = self.store.conversations.get(conversation_id, user_id=user_id)
            except NotFound:
                continue
            if conversation.character_id == character_id:
                i = memory_ids.summary(conversation_id)
                found[i] = Recalled(i, "summary", summary.text, summary.updated_at, None, (),
                                    0.0)
        return found

    def _with_neighbours(self, hits: list[Recalled], exclude: Collection[str]) -> list[Recalled]:
        """Follow a short recalled message ("Yes, in June!") with the turn it answers or
        that answers it: alone it means little, and a long one stands on its own."""
        short = [h for h in hits if h.kind == "message" and len(h.text.split()) <= SHORT_WORDS]
        beside = self.store.messages.neighbours(
            [(h.message_ids[0], h.role == "user") for h in short]) if short else {}
        taken = {h.id for h in hits} | set(exclude)
        out: list[Recalled] = []
        for hit in hits:
            out.append(hit)
            neighbour = beside.get(hit.message_ids[0]) if hit.message_ids else None
            if neighbour is None or (i := memory_ids.message(neighbour.id)) in taken:
                continue
            taken.add(i)
            out.append(Recalled(i, "message", neighbour.content, neighbour.created_at,
                                neighbour.role, (neighbour.id,), hit.score * 0.99, hit.strong))
        return out
