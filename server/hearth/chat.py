"""One chat turn: text in, streamed text out, both stored, memory kept up to date.

The user's message is committed before any model work starts. The reply is
stored when it ends; a reply cut short (the client went away, or a newer turn
took over) keeps what was said so far, marked `interrupted`. Indexing, the
rolling summary and fact extraction run afterwards, in the background.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hearth import lorebook
from hearth.characters import substitute
from hearth.config import Settings
from hearth.context import ContextBuilder, RecallFn, Turn, Window, WindowState
from hearth.engines.llm import Finished, ModelOwner, Preempted, SamplingParams, Token, Usage
from hearth.errors import Conflict, InvalidInput, TooLarge
from hearth.feed import Feed
from hearth.jobs import Jobs
from hearth.memory import ids as memory_ids
from hearth.memory.recall import Recalled
from hearth.memory.service import Memory, database_generation
from hearth.relationship.plan_book import PlanBook
from hearth.store import Conversation, Message, Store, User

log = logging.getLogger(__name__)
Card = dict[str, Any]  # a Character Card's fields (`data` of a V2 card)


@dataclass(frozen=True)
class TurnStarted:
    """The turn is under way; `user_message` is the stored new message (None on regenerate)."""

    user_message: Message | None
    window: Window


@dataclass(frozen=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True)
class TurnFinished:
    message: Message  # the reply as stored; for an answer that is not stored, as it would be
    usage: Usage
    added: str | None = None  # a continuation: only the text it added to `message`
    stored: bool = True


TurnEvent = TurnStarted | ReplyDelta | TurnFinished
TurnStream = AsyncGenerator[TurnEvent, None]  # close it (aclosing) to stop a turn early


@dataclass(frozen=True)
class ImportItem:
    role: str
    content: str
    created_at: float


class Chat:
    def __init__(
        self, *, store: Store, model: ModelOwner, settings: Settings, memory: Memory | None,
        jobs: Jobs, feed: Feed | None = None,
    ) -> None:
        self.store = store
        self.feed = feed or Feed()  # every message stored here is published to its person
        self.model = model
        self.settings = settings
        self.memory = memory
        self.jobs = jobs
        self.context = ContextBuilder(
            model, reply_reserve=settings.llm.max_reply_tokens, memory=settings.memory
        )
        self.plans = PlanBook(store)
        self._threads = threading.Lock()  # one new conversation per named thread

    def _params(self) -> SamplingParams:
        llm = self.settings.llm
        return SamplingParams(
            max_tokens=llm.max_reply_tokens,
            temperature=llm.temperature,
            top_p=llm.top_p,
            repeat_penalty=llm.repeat_penalty,
            seed=llm.seed,
        )

    def sampling(
        self, *, max_tokens: int | None = None, temperature: float | None = None,
        top_p: float | None = None, stop: Sequence[str] = (), seed: int | None = None,
    ) -> SamplingParams:
        """The configured sampling with a client's choices. A `max_tokens` above the reply
        reserve (llm.max_reply_tokens) is honoured when the turn's prompt leaves room for
        it, and refused otherwise (`check_reply_room`)."""
        base = self._params()
        if max_tokens is not None and max_tokens >= self.model.n_ctx:
            raise InvalidInput(
                f"max_tokens: {max_tokens} tokens cannot fit; the model's whole window is "
                f"{self.model.n_ctx} tokens, prompt included. Ask for fewer (or leave it out)")
        return replace(
            base,
            max_tokens=max_tokens or base.max_tokens,
            temperature=base.temperature if temperature is None else temperature,
            top_p=base.top_p if top_p is None else top_p,
            stop=tuple(s for s in stop if s),
            seed=base.seed if seed is None else seed,
        )

    def start_conversation(self, user: User, character_id: int) -> Conversation:
        character = self.store.characters.get(character_id)
        card = character.data
        greetings = [
            substitute(g, char=card["name"], user=user.shown_name)
            for g in [card.get("first_mes", ""), *card.get("alternate_greetings", [])]
            if g.strip()
        ]
        conversation = self.store.conversations.create(
            user_id=user.id, character_id=character.id, title=card["name"], greetings=greetings
        )
        greeted = self.store.messages.list(conversation.id)
        if self.memory is not None:
            self.memory.index_messages([m.id for m in greeted])
        for message in greeted:
            self._stored(user.id, message)
        if self.jobs.running:  # not in the CLI, which sends nothing afterwards
            self.jobs.submit("prepare", lambda: self._prepare_start(user, conversation))
        return conversation

    async def _prepare_start(self, user: User, conversation: Conversation) -> None:
        """Evaluate the start of the new conversation's first window (the system message,
        the greeting and the first note's clock) while the person reads the greeting, as
        background work: the first turn then evaluates only its own message and what
        memory recalls for it."""
        history = self.store.messages.list(conversation.id)
        if any(m.role == "user" for m in history):
            return  # they were quicker: the turn has begun
        await self._evaluate_ahead(user, conversation,
                                   await self._window_ahead(user, conversation, history))

    async def _prepare_shift(self, user: User, conversation: Conversation) -> None:
        """When the next turn will drop the oldest turns (the window is nearly full), make
        that shift now, while the person reads the reply: llama.cpp moves the kept turns
        and evaluates the newer summary the next note begins with, so that turn costs
        what an ordinary one does. The context builder makes the same shift whatever the
        message; memories are recalled for it then."""
        history = self.store.messages.list(conversation.id)
        if not history or history[-1].role != "assistant":
            return  # gone, or the next turn has begun
        window = await self._window_ahead(user, conversation, history)
        if window.shifted:
            await self._evaluate_ahead(user, conversation, window)

    async def _window_ahead(self, user: User, conversation: Conversation,
                            history: Sequence[Message]) -> Window:
        """The next turn's window before its message is known (so no recall), built off
        the event loop, store reads included: a voice reply may still be playing."""
        return await asyncio.to_thread(lambda: self.context.build(
            self._turn(user, conversation, history, "", time.time())))

    async def _evaluate_ahead(self, user: User, conversation: Conversation,
                              window: Window) -> None:
        """Evaluate `window`'s prompt into the conversation's cache as background work."""
        stream = self.model.stream(window.prompt, SamplingParams(max_tokens=1),
                                   session=f"c{conversation.id}", user=user.id, background=True)
        async with aclosing(stream) as items:
            async for _ in items:
                pass  # a user's turn preempts it; the head start is then lost, nothing else

    def _stored(self, user_id: int, message: Message) -> Message:
        """Tell the person's listening clients (`hearth.feed`) about a message just stored
        (or changed) in one of their conversations; returns it."""
        self.feed.publish(user_id, message)
        return message

    def conversation_for(self, user: User, character_id: int, *,
                         conversation_id: int | None = None, thread: str | None = None
                         ) -> Conversation:
        """Where an outside client's turn goes (the OpenAI-compatible API): the conversation
        `conversation_id`; else the one this user's client named `thread` with this character,
        started on first use; else the user's latest conversation with the character, started
        if there is none."""
        store = self.store
        if conversation_id is not None:
            conversation = store.conversations.get(conversation_id, user_id=user.id)
            if conversation.character_id != character_id:
                raise InvalidInput(
                    f"conversation {conversation_id} is with "
                    f"{store.characters.get(conversation.character_id).name}, not with "
                    f"{store.characters.get(character_id).name}; ask for that character's "
                    "model, or leave the conversation out")
            return conversation
        store.characters.get(character_id)
        with self._threads:
            if thread:
                found = store.conversations.find_thread(user_id=user.id,
                                                        character_id=character_id, name=thread)
            else:
                found = store.conversations.latest(user_id=user.id, character_id=character_id)
            if found is not None:
                return found
            conversation = self.start_conversation(user, character_id)
            if thread:
                store.conversations.set_thread(user_id=user.id, character_id=character_id,
                                               name=thread, conversation_id=conversation.id)
            return conversation

    # -- the window ----------------------------------------------------------------

    def _turn(self, user: User, conversation: Conversation, history: Sequence[Message],
              content: str | None, now: float, card: Card | None = None) -> Turn:
        store = self.store
        character = store.characters.get(conversation.character_id)
        card = card or character.data
        keys = lorebook.KeyRules(
            timeout=self.settings.memory.lorebook_regex_ms / 1000,
            off=frozenset(character.lore_keys_off),
            on_timeout=functools.partial(store.characters.turn_off_lore_key, character.id))
        owner = {"user_id": user.id, "character_id": conversation.character_id}
        window = store.windows.find(conversation.id)
        summary = store.summaries.find(conversation.id)
        first = history[0].created_at if history else now
        return Turn(
            card=card, user=user.shown_name, history=history,
            notes=store.notes.in_conversation(conversation.id),
            state=None if window is None else WindowState(
                window.start_message_id, window.profile, window.summary),
            new_message=content, now=now,
            facts=store.facts.list(**owner) if self.memory else (),
            summary=summary.text if summary else "",
            times=functools.cache(lambda: (
                store.messages.first_said(**owner),
                store.messages.last_said_before(**owner, before=first))),
            lore_keys=keys, persona=user.persona, pronouns=user.pronouns, zone=user.zone,
        )

    def _recall_for(self, user: User, conversation: Conversation) -> RecallFn | None:
        if self.memory is None:
            return None
        memory = self.memory
        names = (user.shown_name, self.store.characters.get(conversation.character_id).name)

        def recall(query: str, exclude: set[str], now: datetime, limit: int) -> list[Recalled]:
            # The conversation's own summary is already in the window.
            try:
                return memory.recall(query, user_id=user.id,
                                     character_id=conversation.character_id, now=now,
                                     exclude=exclude | {memory_ids.summary(conversation.id)},
                                     names=names, limit=limit)
            except Exception:  # noqa: BLE001 - say so, and answer from what SQLite has
                # A Chroma server may be down or restarting: the turn goes on without
                # recalled memories rather than failing; everything is still stored.
                log.exception("memory recall failed; this turn has no recalled memories")
                return []

        return recall

    def build(self, user: User, conversation: Conversation, history: Sequence[Message],
              content: str | None, now: float, card: Card | None = None) -> Window:
        turn = self._turn(user, conversation, history, content, now, card)
        return self.context.build(turn, recall=self._recall_for(user, conversation))

    def window(self, user: User, conversation_id: int, content: str, now: float | None = None
               ) -> Window:
        """What the window would be for `content`, without storing or generating anything."""
        conversation = self.store.conversations.get(conversation_id, user_id=user.id)
        history = self.store.messages.list(conversation.id)
        return self.build(user, conversation, history, self.check_content(content),
                          now or time.time())

    def check_reply_room(self, window: Window, params: SamplingParams | None) -> None:
        """Refuse a `max_tokens` the packed window has no room for, before anything is stored
        (the window always keeps the reply reserve free; what the prompt leaves beyond it
        is free too)."""
        free = self.model.n_ctx - window.tokens
        if params is not None and params.max_tokens > free:
            raise InvalidInput(
                f"max_tokens: {params.max_tokens} tokens do not fit; this turn's prompt takes "
                f"{window.tokens} of the model's {self.model.n_ctx}-token window, so at most "
                f"{free} are free for the reply. Ask for {free} or fewer (or leave max_tokens "
                f"out for the {self.settings.llm.max_reply_tokens} of llm.max_reply_tokens)")

    def check_content(self, content: str) -> str:
        if not content.strip():
            raise InvalidInput("the message is empty; write something to send")
        limit = self.settings.limits.max_message_chars
        if len(content) > limit:
            raise TooLarge(
                f"the message has {len(content)} characters; the limit is {limit} "
                "(limits.max_message_chars)"
            )
        return content

    # -- turns -----------------------------------------------------------------------

    async def prepare(self, user: User, conversation_id: int, content: str) -> None:
        """Evaluate the prompt `content` would get, before `send` is called with it: the
        voice loop does this while the user pauses, the web page while they pause typing,
        so the reply starts sooner. Stores nothing; if the conversation or the message
        changes meanwhile, only the head start is lost."""
        window = await asyncio.to_thread(self.window, user, conversation_id, content)
        await self.model.prefill(window.prompt, session=f"c{conversation_id}", user=user.id)

    async def draft(self, user: User, conversation_id: int, content: str
                    ) -> AsyncGenerator[str, None]:
        """The start of the reply `send(content)` would stream, as the model writes it,
        stored nowhere: the voice loop says its first clause while the user pauses, then
        sends with that text as `reply_start`. The prompt is evaluated first in cancellable
        steps (`prepare`); close the stream to stop. Nothing comes when another request
        waits for the model: a guess must not hold up anyone's turn."""
        window = await asyncio.to_thread(self.window, user, conversation_id, content)
        session = f"c{conversation_id}"
        await self.model.prefill(window.prompt, session=session, user=user.id)
        if not self.model.idle:
            return
        stream = self.model.stream(window.prompt, self._params(), session=session,
                                   user=user.id)
        async with aclosing(stream):
            async for item in stream:
                if isinstance(item, Token):
                    yield item.text

    async def send(self, user: User, conversation_id: int, content: str,
                   params: SamplingParams | None = None, card: Card | None = None,
                   reply_start: str = "") -> TurnStream:
        """Store the user's message, then stream and store the reply (sampled with `params`,
        by default the configured ones; with `card`, a client's card speaks instead of the
        character's own, for this turn only). With `reply_start`, the reply begins with that
        text (already said: a `draft`'s) and the model goes on from it; it is the first
        delta, and the stored reply holds it."""
        content = self.check_content(content)
        conversation = self.store.conversations.get(conversation_id, user_id=user.id)
        history = self.store.messages.list(conversation.id)
        now = time.time()
        # Recall and packing run off the event loop; they refuse before anything is stored.
        window = await asyncio.to_thread(self.build, user, conversation, history, content, now,
                                         card)
        if reply_start:
            window = replace(window, prompt=self.model.render(window.messages, reply_start))
            # The text already said counts against the reply's length.
            params = params or self._params()
            params = replace(params, max_tokens=max(
                1, params.max_tokens - self.model.count(reply_start)))
        self.check_reply_room(window, params)
        self.model.check_capacity(user.id)
        stored = self._stored(user.id, self.store.messages.add(
            conversation_id=conversation.id, role="user", content=content, created_at=now))
        self._keep(conversation.id, stored.id, window)
        self._note_plans(user, conversation, [stored])
        yield TurnStarted(stored, window)
        async with aclosing(self._reply(window, conversation, None, params,
                                        start=reply_start)) as events:
            async for event in events:
                # Queued before the last event goes out: a caller may stop reading there.
                if isinstance(event, TurnFinished):
                    self._after(user, conversation, stored, event.message)
                    if self.jobs.running:
                        self.jobs.submit("shift", lambda: self._prepare_shift(user, conversation))
                yield event

    async def regenerate(self, user: User, conversation_id: int,
                         params: SamplingParams | None = None, card: Card | None = None
                         ) -> TurnStream:
        """A new alternative for the last reply (kept as a swipe), or a reply to a lone user
        message."""
        conversation = self.store.conversations.get(conversation_id, user_id=user.id)
        history = self.store.messages.list(conversation_id)
        if not history:
            raise Conflict("the conversation has no messages to answer; send one first")
        target = history[-1] if history[-1].role == "assistant" else None
        if target is not None and len(history) == 1:
            raise Conflict("only the greeting is here; send a message first")
        answered = history[:-1] if target is not None else history
        window = await asyncio.to_thread(self.build, user, conversation, answered, None,
                                         time.time(), card)
        self.check_reply_room(window, params)
        self.model.check_capacity(user.id)
        yield TurnStarted(None, window)
        async with aclosing(self._reply(window, conversation, target, params)) as events:
            async for event in events:
                yield event

    async def continue_reply(self, user: User, conversation_id: int,
                             params: SamplingParams | None = None, card: Card | None = None
                             ) -> TurnStream:
        """More of the last reply: the model goes on from its text, which grows in place
        (the events carry only the new text, in `TurnFinished.added`)."""
        conversation = self.store.conversations.get(conversation_id, user_id=user.id)
        history = self.store.messages.list(conversation_id)
        if not history or history[-1].role != "assistant":
            raise Conflict("the conversation does not end with a reply to continue; send a "
                           "message instead")
        if len(history) == 1:
            raise Conflict("only the greeting is here; send a message first")
        target = history[-1]
        window = await asyncio.to_thread(self.build, user, conversation, history[:-1], None,
                                         time.time(), card)
        window = replace(window, prompt=self.model.render(window.messages, target.content))
        self.check_reply_room(window, params)
        self.model.check_capacity(user.id)
        yield TurnStarted(None, window)
        async with aclosing(self._reply(window, conversation, target, params,
                                        extend=True)) as events:
            async for event in events:
                if isinstance(event, TurnFinished) and self.memory is not None:
                    memory, ids = self.memory, [target.id]
                    self.jobs.submit("index", lambda: asyncio.to_thread(memory.index_messages,
                                                                        ids))
                yield event

    async def answer_once(self, user: User, conversation_id: int, instruction: str,
                          params: SamplingParams | None = None, card: Card | None = None
                          ) -> TurnStream:
        """Answer `instruction` (a client's system prompt: impersonate, a summary, a quiet prompt)
        from the conversation's window, last in the prompt; nothing is stored."""
        instruction = self.check_content(instruction)
        conversation = self.store.conversations.get(conversation_id, user_id=user.id)
        history = self.store.messages.list(conversation_id)
        now = time.time()
        turn = replace(self._turn(user, conversation, history, None, now, card),
                       instruction=instruction)
        window = await asyncio.to_thread(self.context.build, turn)
        self.check_reply_room(window, params)
        self.model.check_capacity(user.id)
        yield TurnStarted(None, window)
        async with aclosing(self._reply(window, conversation, None, params,
                                        store=False)) as events:
            async for event in events:
                yield event

    def _note_plans(self, user: User, conversation: Conversation,
                    messages: Sequence[Message]) -> None:
        """Find the dated plans in what the user said (plain rules: milliseconds)."""
        try:
            self.plans.note_many(messages, user=user, conversation=conversation)
        except Exception:  # noqa: BLE001 - a plan missed must never cost the turn
            log.exception("finding plans in messages %s failed", [m.id for m in messages])

    def _keep(self, conversation_id: int, message_id: int, window: Window) -> None:
        """Store what this turn's prompt was built from, so later turns repeat it exactly."""
        if window.stored_note:
            self.store.notes.set(message_id, text=window.stored_note, sources=window.stored_sources)
        if (state := window.new_state) is not None:
            self.store.windows.set(
                conversation_id, start_message_id=state.start_message_id,
                profile=state.profile, summary=state.summary,
            )

    async def _reply(
        self, window: Window, conversation: Conversation, target: Message | None,
        params: SamplingParams | None = None, *, extend: bool = False, store: bool = True,
        start: str = "",
    ) -> TurnStream:
        """Stream the reply and store it: a new message, a new swipe of `target`, or with
        `extend` more text on `target`'s shown one; with `store=False`, nowhere. `start`:
        text the reply begins with, rendered into the prompt already (`send`)."""
        parts: list[str] = [start] if start else []
        usage: Usage | None = None
        stored: Message | None = None
        generation = database_generation(self.store)
        stream = self.model.stream(window.prompt, params or self._params(),
                                   session=f"c{conversation.id}", user=conversation.user_id)
        try:
            if start:
                yield ReplyDelta(start)
            async with aclosing(stream):
                async for item in stream:
                    if isinstance(item, Finished):
                        usage = item.usage
                    else:
                        parts.append(item.text)
                        yield ReplyDelta(item.text)
        finally:
            # Runs on cancellation too: keep what was already said, marked as such.
            text = "".join(parts).strip()
            complete = usage is not None and usage.finish_reason != "cancelled"
            # A restore replaced the data meanwhile: its ids now name other conversations.
            restored = database_generation(self.store) != generation
            status = "complete" if complete else "interrupted"
            added = "".join(parts).rstrip()  # a continuation's text goes on from its start
            if not store:
                stored = Message(0, conversation.id, "assistant", [text], 0, status,
                                 time.time(), time.time())
            elif restored:
                log.warning("the data was restored during a reply; the reply is not stored")
            elif extend and target is not None:
                if added or complete:
                    stored = self.store.messages.edit(target, content=target.content + added,
                                                      status=status)
                    self._stored(conversation.user_id, stored)
                else:
                    stored = target
            elif text or complete:
                if target is None:
                    stored = self.store.messages.add(
                        conversation_id=conversation.id, role="assistant", content=text,
                        status=status,
                    )
                else:
                    stored = self.store.messages.add_swipe(target.id, content=text, status=status)
                self._stored(conversation.user_id, stored)
        if restored and store:
            raise Conflict("the data was restored from a backup while this reply was being "
                           "written, so it was not stored; send your message again")
        assert stored is not None and usage is not None
        yield TurnFinished(stored, usage, added=added if extend else None, stored=store)

    async def reach_out(self, user: User, conversation: Conversation, *, reason: dict,
                        instruction: str, now: float | None = None) -> Message | None:
        """A message the character starts on its own (relationship/outreach.py decides when):
        packed by the context builder like any turn, with `instruction` last, and stored
        marked with `reason`. It gives way to any user's turn (raising Preempted, to be
        tried again later); None when the model wrote nothing."""
        now = time.time() if now is None else now
        history = self.store.messages.list(conversation.id)
        turn = replace(self._turn(user, conversation, history, None, now),
                       instruction=instruction)
        card_name = turn.card["name"]
        window = await asyncio.to_thread(self.context.build, turn)
        parts: list[str] = []
        finished: Usage | None = None
        stream = self.model.stream(window.prompt, self._params(), session=f"c{conversation.id}",
                                   user=user.id, background=True)
        async with aclosing(stream):
            async for item in stream:
                if isinstance(item, Finished):
                    finished = item.usage
                else:
                    parts.append(item.text)
        # A small model sometimes starts with a speaker's name ("Ember: Hi!"): not said.
        text = re.sub(rf"^\s*(?:{re.escape(card_name)}|{re.escape(user.shown_name)})\s*:\s*", "",
                      "".join(parts)).strip()
        if finished is None or finished.finish_reason == "cancelled":
            raise Preempted
        if not text:
            return None
        if (state := window.new_state) is not None:
            self.store.windows.set(
                conversation.id, start_message_id=state.start_message_id,
                profile=state.profile, summary=state.summary)
        message = self._stored(user.id, self.store.messages.add(
            conversation_id=conversation.id, role="assistant", content=text, created_at=now,
            reason=reason))
        if self.memory is not None:
            memory = self.memory
            self.jobs.submit("index", lambda: asyncio.to_thread(memory.index_messages,
                                                                [message.id]))
        return message

    def cut_reply(self, user: User, user_message_id: int, heard: str) -> Message | None:
        """Keep only what the user heard of the reply to `user_message_id` (voice barge-in).

        The reply is marked `interrupted`; if nothing of it was heard, it is removed.
        Returns the reply as stored, or None.
        """
        said = self.store.messages.get(user_message_id, user_id=user.id)
        history = self.store.messages.list(said.conversation_id)
        after = [m for m in history if m.id > said.id]
        if not after or after[0].role != "assistant":
            return None
        reply = after[0]
        heard = heard.strip()
        if not heard:
            self.store.messages.delete(reply.id)
            if self.memory is not None:
                self.memory.forget([reply.id])
            reply = None
        else:
            reply = self._stored(user.id, self.store.messages.edit(
                reply, content=heard, status="interrupted"))
        if self.memory is not None:
            memory, ids = self.memory, [said.id] + ([reply.id] if reply else [])
            self.jobs.submit("index", lambda: asyncio.to_thread(memory.index_messages, ids))
        return reply

    # -- memory upkeep -----------------------------------------------------------------

    def _after(self, user: User, conversation: Conversation, said: Message, reply: Message) -> None:
        """Queue the background work of a finished turn."""
        memory = self.memory
        if memory is None:
            return
        char = self.store.characters.get(conversation.character_id).name
        self.jobs.submit("index", lambda: asyncio.to_thread(
            memory.index_messages, [said.id, reply.id]))
        if not self.settings.memory.background:
            return
        self.jobs.submit("facts", lambda: memory.extract_facts(
            said, user=user.shown_name, user_id=user.id, character_id=conversation.character_id))

        async def summary() -> None:
            history = self.store.messages.list(conversation.id)
            turn = self._turn(user, conversation, history, None, time.time())
            upto = await asyncio.to_thread(self.context.summary_cut, turn)
            if upto is not None:
                await memory.summarise(conversation.id, upto_message_id=upto,
                                       user=user.shown_name, char=char)

        self.jobs.submit("summary", summary)

    def import_messages(self, user: User, conversation_id: int,
                        items: Sequence[ImportItem]) -> list[int]:
        """Append past history in bulk (all or nothing) and index it like live messages."""
        conversation = self.store.conversations.get(conversation_id, user_id=user.id)
        limit = self.settings.limits.max_message_chars
        for n, item in enumerate(items):
            if not item.content.strip():
                raise InvalidInput(f"messages[{n}]: the content is empty")
            if len(item.content) > limit:
                raise TooLarge(f"messages[{n}]: {len(item.content)} characters; the limit is "
                               f"{limit} (limits.max_message_chars)")
        ids = self.store.messages.add_many(
            conversation_id=conversation.id,
            items=[(i.role, i.content, i.created_at) for i in items],
        )
        if self.memory is not None:
            self.memory.index_messages(ids)
            self.memory.follow_language()  # a history in another language may need e5
        new = set(ids)
        said = [m for m in self.store.messages.list(conversation.id) if m.id in new]
        self._note_plans(user, conversation, said)
        return ids
