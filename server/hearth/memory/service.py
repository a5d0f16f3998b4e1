"""Long-term memory: keeps the index in step with SQLite, recalls, writes summaries and facts.

SQLite is the record; the Chroma index is derived from it (`reindex` rebuilds it,
`catch_up` repairs one left behind by a crash). Summaries and facts are written
by the chat model in the background, after a reply, and give way to any user turn.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import aclosing
from datetime import datetime

import numpy as np

from hearth.config import Settings
from hearth.engines.embed import Embedder
from hearth.engines.llm import (
    ChatMessage,
    Finished,
    ModelOwner,
    Preempted,
    SamplingParams,
    Token,
)
from hearth.memory import ids as memory_ids
from hearth.memory.embedder_choice import MULTILINGUAL_EMBEDDER, household_embedder
from hearth.memory.index import MemoryIndex, MemoryItem, Stamp
from hearth.memory.recall import STOPWORDS, Recalled, Recaller
from hearth.memory.words import cjk_terms, first_person, is_cjk, normal, words
from hearth.store import Fact, Message, Store

log = logging.getLogger(__name__)

_FACT_FILLER = frozenset({"speaker", "user", "person", "they", "she", "he", "likes", "has"})
# Meta key that `hearth restore` changes: the index records the one it was built from.
RESTORE_GENERATION = "restore_generation"


def database_generation(store: Store) -> str:
    """Changes each time a restore replaces the data; "" for a database never restored."""
    return store.meta.find(RESTORE_GENERATION) or ""


def grounded(fact: str, source: str, *, share: float = 0.6) -> bool:
    """Most of the fact's content words were in what the user said.

    Small chat models embellish ("two cats" becomes "two cats, Grey and Max"):
    a fact must be mostly the user's own words to be kept.
    """
    said = set(_content_words(source))
    kept = _content_words(fact)
    return bool(kept) and sum(w in said for w in kept) >= share * len(kept)


def _content_words(text: str) -> list[str]:
    """Word stems to compare: five letters of a spaced word, two syllables of a CJK one."""
    spaced = [w[:5] for w in words(text) if not is_cjk(w) and len(w) > 2
              and w not in STOPWORDS and w not in _FACT_FILLER]
    return spaced + [t[:2] for t in cjk_terms(text)]


def parse_facts(text: str) -> list[str]:
    """Fact lines of the model's answer: "- ..." bullets, without filler."""
    facts = []
    for line in text.splitlines():
        line = line.strip()
        if not re.match(r"^([-*•]|\d+[.)])\s+", line):
            continue
        fact = re.sub(r"^([-*•]|\d+[.)])\s+", "", line).strip().rstrip(".") + "."
        if 8 <= len(fact) <= 200 and normal(fact) not in ("none", "no facts", "n a"):
            facts.append(fact)
    return facts


def drop_drawn_from(store: Store, message: Message) -> tuple[list[str], list[Fact]]:
    """Drop from SQLite what memory drew from a message that was edited or deleted.

    The message leaves each fact's sources; a fact with no source left goes (one added
    by hand never had any, and stays). A summary that covers the message goes, with the
    window state frozen with it, so the next turn packs afresh and its summary job
    rebuilds the summary from the messages as they are now. Returns the memory ids that
    went and the facts that kept other sources, for the index.
    """
    gone, kept = [], []
    for fact in store.facts.from_message(message.id):
        sources = [i for i in fact.source_message_ids if i != message.id]
        if sources:
            kept.append(store.facts.set_sources(fact.id, user_id=fact.user_id,
                                                source_message_ids=sources))
        else:
            store.facts.delete(fact.id, user_id=fact.user_id)
            gone.append(memory_ids.fact(fact.id))
    conversation_id = message.conversation_id
    summary = store.summaries.find(conversation_id)
    if summary is not None and message.id <= summary.upto_message_id:
        store.summaries.delete(conversation_id)
        store.windows.delete(conversation_id)
        gone.append(memory_ids.summary(conversation_id))
    return gone, kept


class Memory:
    CHECK_EVERY = 100  # messages indexed between two looks at the household's language

    def __init__(
        self, *, store: Store, index: MemoryIndex, embedder: Embedder,
        model: ModelOwner | None, settings: Settings,
        load: Callable[[str], Embedder] | None = None,
    ) -> None:
        """`model` writes summaries and facts; without one, memory indexes and recalls only.
        `load` (memory.embedder = "auto") loads another embedder when the household's
        language calls for it (`follow_language`)."""
        self.store = store
        self.index = index
        self.embedder = embedder
        self.model = model
        self.settings = settings
        self.recaller = self._recaller(index, embedder)
        self._load = load
        self._writing = threading.RLock()  # every index write, and the swap to a new index
        self._rebuilding = threading.RLock()  # one rebuild at a time
        self._building: MemoryIndex | None = None  # built beside: index writes go there too
        self._state = threading.Condition()  # guards the two below
        self._readers = 0  # recalls running (on the index they started with)
        self._switch: threading.Thread | None = None
        self._stop = threading.Event()
        self._unchecked = 0  # messages indexed since the language was last looked at

    def _recaller(self, index: MemoryIndex, embedder: Embedder) -> Recaller:
        return Recaller(store=self.store, index=index, embedder=embedder,
                        candidates=self.settings.memory.recall_candidates)

    def close(self) -> None:
        """Stop a switch in progress (it is redone at the next start), then the index."""
        self._stop.set()
        if self._switch is not None:
            self._switch.join()
        self.index.close()

    # -- the index -------------------------------------------------------------

    @staticmethod
    def _message_item(message: Message, user_id: int, character_id: int) -> MemoryItem:
        return MemoryItem(
            id=memory_ids.message(message.id), text=message.content, user_id=user_id,
            character_id=character_id, kind="message", ts=message.created_at,
            conversation_id=message.conversation_id, message_ids=(message.id,),
            role=message.role, importance=min(1.0, len(message.content) / 400),
        )

    def _message_items(self, ids: Sequence[int]) -> list[MemoryItem]:
        rows = self.store.messages.owned(ids=list(ids))
        return [self._message_item(r.message, r.user_id, r.character_id) for r in rows
                if r.message.content.strip()]

    def _targets(self) -> list[MemoryIndex]:
        """Where a write goes: the index in use, and the one being built beside it."""
        return [self.index] + ([self._building] if self._building is not None else [])

    def index_messages(self, ids: Sequence[int]) -> None:
        """Embed and index these messages as SQLite has them now (each text once, in
        batches); now and then, look at the household's language again."""
        for start in range(0, len(ids), 512):
            with self._writing:
                items = self._message_items(ids[start : start + 512])
                for index in self._targets():
                    index.add(items)
        self._unchecked += len(ids)
        if self._unchecked >= self.CHECK_EVERY:
            self._unchecked = 0
            self.follow_language()

    def forget(self, message_ids: Sequence[int]) -> None:
        if message_ids:
            with self._writing:
                for index in self._targets():
                    index.delete([memory_ids.message(i) for i in message_ids])

    def said_changed(self, message: Message) -> None:
        """A message was edited or deleted: the facts and summary drawn from it follow,
        in SQLite and in the index (`drop_drawn_from`). Extracting facts from the new
        words is the caller's, in the background."""
        with self._writing:  # and not between a fact extraction's check and its writes
            gone, kept = drop_drawn_from(self.store, message)
            for fact in kept:
                self._index_fact(fact)  # the item names its sources
            if gone:
                for index in self._targets():
                    index.delete(gone)

    def forget_conversation(self, conversation_id: int, message_ids: Sequence[int]) -> None:
        """A deleted conversation's messages and its summary leave the index too."""
        with self._writing:
            for index in self._targets():
                index.delete([*map(memory_ids.message, message_ids),
                              memory_ids.summary(conversation_id)])

    def forget_character(self, character_id: int) -> None:
        with self._writing:
            for index in self._targets():
                index.drop_character(character_id)

    def forget_user(self, user_id: int) -> None:
        with self._writing:
            for index in self._targets():
                index.drop_user(user_id)

    def catch_up(self, index: MemoryIndex | None = None) -> int:
        """Index what SQLite has and the index lacks (after a crash); returns how many."""
        index = index or self.index
        have = index.indexed_ids("message")
        ids = self.store.messages.ids()
        missing = [i for i in ids if memory_ids.message(i) not in have]
        stale = have - {memory_ids.message(i) for i in ids}
        if stale:
            index.delete(sorted(stale))
        for start in range(0, len(missing), 512):
            index.add(self._message_items(missing[start : start + 512]))
        if missing or stale:
            log.info("memory index caught up: %d added, %d removed", len(missing), len(stale))
        return len(missing)

    def sync(self) -> int:
        """Bring the index in step at start-up or after a restore: rebuild it if it was
        built from other data (a restore since) or its last rebuild was cut short, else
        catch up. Returns how many messages were indexed."""
        with self._rebuilding:
            stamp = self.index.stamp()
            if not stamp.complete or stamp.generation != database_generation(self.store):
                log.info("memory index was built from other data; rebuilding it")
                return self.reindex()
            if stamp.embedder != self.embedder.name:
                log.info("memory index was built by the %s embedder, %s is configured: "
                         "rebuilding it", stamp.embedder, self.embedder.name)
                return self.reindex()
            self.index.drop_others()  # left by a switch cut short
            return self.catch_up()

    def reindex(self) -> int:
        """Rebuild the whole index from SQLite: messages, facts and summaries."""
        with self._rebuilding:
            # Read before the data: a restore landing mid-rebuild leaves a stamp that differs.
            generation = database_generation(self.store)
            self.index.set_stamp(Stamp(generation, complete=False, embedder=self.embedder.name))
            self.index.reset()
            n = self._fill(self.index)
            if n is None:
                return 0  # shut down: the stamp says incomplete, the next start rebuilds
            self.index.set_stamp(Stamp(generation, embedder=self.embedder.name))
            self.index.drop_others()
        log.info("memory index rebuilt with %s: %d messages", self.embedder.name, n)
        return n

    def _fill(self, index: MemoryIndex, batch: int = 128) -> int | None:
        """Index all SQLite holds into `index`, logging progress; each batch is read and
        written under the write lock, so a live write lands wholly before or after it.
        Returns how many messages, or None when Hearth shut down meanwhile."""
        ids = self.store.messages.ids()
        for start in range(0, len(ids), batch):
            if self._stop.is_set():
                return None
            if start and start % (8 * batch) == 0:
                log.info("indexing memories with %s: %d of %d messages", index.embedder.name,
                         start, len(ids))
            with self._writing:
                index.add(self._message_items(ids[start : start + batch]))
        with self._writing:
            for user_id in self.store.people.ids():
                for fact in self.store.facts.list(user_id=user_id):
                    self._index_fact(fact, index)
            for conversation_id in self.store.summaries.conversation_ids():
                self._index_summary(conversation_id, index)
        return len(ids)

    # -- following the household's language ------------------------------------------

    def follow_language(self) -> None:
        """With memory.embedder = "auto": when the household's language now calls for
        another embedder, switch to it in the background. Only towards the multilingual
        one: never back while running, so a household does not flap between them."""
        if self._load is None or self.embedder.name == MULTILINGUAL_EMBEDDER:
            return
        if household_embedder(self.store) != MULTILINGUAL_EMBEDDER:
            return
        with self._state:
            if self._switch is None or not self._switch.is_alive():
                self._switch = threading.Thread(
                    target=self._switch_to, args=(MULTILINGUAL_EMBEDDER,),
                    name="memory-switch", daemon=True)
                self._switch.start()

    def _switch_to(self, name: str) -> None:
        """Build `name`'s index beside the one in use (which keeps serving), then swap."""
        assert self._load is not None
        try:
            with self._rebuilding:
                if self.embedder.name == name or self._stop.is_set():
                    return
                embedder = self._load(name)
                generation = database_generation(self.store)
                new = self.index.beside(embedder)
                log.info("the household's language calls for %s: building its memory index "
                         "beside the one in use", name)
                new.reset()  # what a switch cut short left
                with self._writing:
                    self._building = new  # live writes reach it from now on
                try:
                    n = self._fill(new)
                    with self._writing:
                        if n is None or generation != database_generation(self.store):
                            new.reset()  # shut down, or a restore replaced the data
                            return
                        self.catch_up(new)
                        new.set_stamp(Stamp(generation, embedder=name))
                        with self._state:
                            self.index, self.embedder = new, embedder
                            self.recaller = self._recaller(new, embedder)
                finally:
                    with self._writing:
                        self._building = None
                with self._state:  # recalls that started on the old index finish first
                    self._state.wait_for(lambda: self._readers == 0)
                new.drop_others()
                log.info("memory switched to %s: %d messages re-indexed", name, n)
        except Exception:
            log.exception("switching memory to %s failed; %s stays", name, self.embedder.name)

    def _index_fact(self, fact: Fact, index: MemoryIndex | None = None) -> None:
        item = MemoryItem(
            id=memory_ids.fact(fact.id), text=fact.text, user_id=fact.user_id,
            character_id=fact.character_id, kind="fact", ts=fact.said_at,
            message_ids=tuple(fact.source_message_ids), importance=1.0,
        )
        with self._writing:
            for target in [index] if index else self._targets():
                target.add([item])

    def _index_summary(self, conversation_id: int, index: MemoryIndex | None = None) -> None:
        with self._writing:
            summary = self.store.summaries.find(conversation_id)
            rows = self.store.messages.owned(ids=[summary.upto_message_id]) if summary else []
            if not (summary and rows):
                return
            last = rows[0]
            item = MemoryItem(
                id=memory_ids.summary(conversation_id), text=summary.text, user_id=last.user_id,
                character_id=last.character_id, kind="summary", ts=last.message.created_at,
                conversation_id=conversation_id, importance=0.5,
            )
            for target in [index] if index else self._targets():
                target.add([item])

    # -- recall ------------------------------------------------------------------

    def recall(
        self, query: str, *, user_id: int, character_id: int, now: datetime,
        exclude: set[str], names: tuple[str, str], limit: int = 150,
    ) -> list[Recalled]:
        with self._state:  # a switch drops the old index once no recall is left on it
            self._readers += 1
            recaller = self.recaller
        try:
            return recaller.recall(query, user_id=user_id, character_id=character_id,
                                   now=now, exclude=exclude, limit=limit, names=names)
        finally:
            with self._state:
                self._readers -= 1
                self._state.notify_all()

    # -- facts ---------------------------------------------------------------------

    def add_fact(self, *, user_id: int, character_id: int, text: str,
                 source_message_ids: Sequence[int], said_at: float) -> Fact | None:
        """Store a fact unless the user already has it (same words, or nearly the same meaning)."""
        existing = self.store.facts.list(user_id=user_id, character_id=character_id)
        if normal(text) and any(normal(f.text) == normal(text) for f in existing):
            return None
        if existing:
            vectors = self.embedder.embed([text] + [f.text for f in existing])
            if float(np.max(vectors[1:] @ vectors[0])) >= self.embedder.duplicate_similarity:
                return None
        fact = self.store.facts.add(user_id=user_id, character_id=character_id, text=text,
                                    source_message_ids=source_message_ids, said_at=said_at)
        self._index_fact(fact)
        return fact

    def edit_fact(self, fact_id: int, *, user_id: int, text: str) -> Fact:
        fact = self.store.facts.update(fact_id, user_id=user_id, text=text)
        self._index_fact(fact)
        return fact

    def delete_fact(self, fact_id: int, *, user_id: int) -> None:
        self.store.facts.delete(fact_id, user_id=user_id)
        with self._writing:
            for index in self._targets():
                index.delete([memory_ids.fact(fact_id)])

    async def _generate(self, messages: list[ChatMessage], max_tokens: int) -> str:
        """Background generation with the chat model; raises Preempted if a user came first."""
        assert self.model is not None, "summaries and facts need the chat model"
        prompt = self.model.render(messages)
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.1)
        parts: list[str] = []
        async with aclosing(self.model.stream(prompt, params, background=True)) as stream:
            async for item in stream:
                if isinstance(item, Token):
                    parts.append(item.text)
                elif isinstance(item, Finished) and item.usage.finish_reason == "cancelled":
                    raise Preempted
        return "".join(parts).strip()

    async def extract_facts(self, message: Message, *, user: str, user_id: int,
                            character_id: int) -> list[Fact]:
        """Facts about the user in one of their messages, deduplicated, with date and source."""
        if message.role != "user" or not first_person(message.content):
            return []
        answer = await self._generate([
            ChatMessage("system", "You are a helpful assistant."),
            ChatMessage("user", f'Message: "{message.content}"\n\n'
                                "Write a numbered list of short facts about the speaker."),
        ], max_tokens=96)
        answer = re.sub(r"\b[Tt]he speaker\b", user, answer)
        stored = []
        with self._writing:
            now = self.store.messages.owned(ids=[message.id])
            if not now or now[0].message.content != message.content:
                return []  # edited or deleted meanwhile: an edit extracts again
            for text in parse_facts(answer):
                if not grounded(text, message.content):
                    continue
                fact = self.add_fact(user_id=user_id, character_id=character_id, text=text,
                                     source_message_ids=[message.id],
                                     said_at=message.created_at)
                if fact is not None:
                    stored.append(fact)
        return stored

    # -- rolling summary -----------------------------------------------------------

    async def summarise(self, conversation_id: int, *, upto_message_id: int, user: str,
                        char: str, chunk_tokens: int = 1200) -> bool:
        """Extend the conversation's summary to cover every message up to `upto_message_id`."""
        current = self.store.summaries.find(conversation_id)
        text, done = (current.text, current.upto_message_id) if current else ("", 0)
        pending = [m for m in self.store.messages.list(conversation_id)
                   if done < m.id <= upto_message_id]
        if not pending:
            return False
        while pending:
            lines, used = [], 0
            while pending and (used < chunk_tokens or not lines):
                m = pending.pop(0)
                line = f"{user if m.role == 'user' else char}: {m.content}"
                used += self.model.count(line)  # type: ignore[union-attr]
                lines.append((m.id, line))
            text = await self._generate([
                ChatMessage("system", "You summarise conversations faithfully and briefly."),
                ChatMessage("user", (
                    (f"Summary so far: {text}\n\n" if text else "")
                    + "Conversation:\n" + "\n".join(line for _, line in lines)
                    + f"\n\nWrite the updated summary of the conversation between {user} and "
                    f"{char} in at most five sentences. Keep names, dates, plans and feelings."
                )),
            ], max_tokens=self.settings.memory.summary_tokens)
            self.store.summaries.set(conversation_id, text=text, upto_message_id=lines[-1][0])
        self._index_summary(conversation_id)
        return True
