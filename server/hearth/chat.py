"""One chat turn: text in, streamed text out, both stored.

The user's message is committed before any model work starts. The reply is
stored when it ends; a reply cut short (the client went away, or a newer turn
took over) keeps what was said so far, marked `interrupted`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from hearth.characters import substitute
from hearth.config import Settings
from hearth.context import ContextBuilder, Window
from hearth.engines.llm import Finished, ModelOwner, SamplingParams, Usage
from hearth.errors import Conflict, InvalidInput, TooLarge
from hearth.store import Conversation, Message, Store, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnStarted:
    """The turn is under way; `user_message` is the stored new message (None on regenerate)."""

    user_message: Message | None


@dataclass(frozen=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True)
class TurnFinished:
    message: Message
    usage: Usage


TurnEvent = TurnStarted | ReplyDelta | TurnFinished


class Chat:
    def __init__(self, *, store: Store, model: ModelOwner, settings: Settings) -> None:
        self.store = store
        self.model = model
        self.settings = settings
        self.context = ContextBuilder(model, reply_reserve=settings.llm.max_reply_tokens)

    def _params(self) -> SamplingParams:
        llm = self.settings.llm
        return SamplingParams(
            max_tokens=llm.max_reply_tokens,
            temperature=llm.temperature,
            top_p=llm.top_p,
            repeat_penalty=llm.repeat_penalty,
            seed=llm.seed,
        )

    def start_conversation(self, user: User, character_id: int) -> Conversation:
        character = self.store.get_character(character_id)
        card = character.data
        greetings = [
            substitute(g, char=card["name"], user=user.name)
            for g in [card.get("first_mes", ""), *card.get("alternate_greetings", [])]
            if g.strip()
        ]
        return self.store.create_conversation(
            user_id=user.id, character_id=character.id, title=card["name"], greetings=greetings
        )

    def window(self, user: User, conversation_id: int, content: str | None) -> Window:
        """The packed prompt for `content` (None: for answering the last message)."""
        conversation = self.store.get_conversation(conversation_id, user_id=user.id)
        card = self.store.get_character(conversation.character_id).data
        history = self.store.list_messages(conversation.id)
        return self.context.build(card=card, user=user.name, history=history, new_message=content)

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

    async def send(self, user: User, conversation_id: int, content: str) -> AsyncIterator[TurnEvent]:
        """Store the user's message, then stream and store the reply."""
        content = self.check_content(content)
        window = self.window(user, conversation_id, content)  # refuses before anything is stored
        self.model.check_capacity()
        stored = self.store.add_message(conversation_id=conversation_id, role="user", content=content)
        yield TurnStarted(stored)
        async with aclosing(self._reply(window, conversation_id, None)) as events:
            async for event in events:
                yield event

    async def regenerate(self, user: User, conversation_id: int) -> AsyncIterator[TurnEvent]:
        """A new alternative for the last reply (kept as a swipe), or a reply to a lone user message."""
        self.store.get_conversation(conversation_id, user_id=user.id)
        history = self.store.list_messages(conversation_id)
        if not history:
            raise Conflict("the conversation has no messages to answer; send one first")
        target = history[-1] if history[-1].role == "assistant" else None
        if target is not None and len(history) == 1:
            raise Conflict("only the greeting is here; send a message first")
        conversation = self.store.get_conversation(conversation_id, user_id=user.id)
        card = self.store.get_character(conversation.character_id).data
        answered = history[:-1] if target is not None else history
        window = self.context.build(card=card, user=user.name, history=answered, new_message=None)
        self.model.check_capacity()
        yield TurnStarted(None)
        async with aclosing(self._reply(window, conversation_id, target)) as events:
            async for event in events:
                yield event

    async def _reply(
        self, window: Window, conversation_id: int, target: Message | None
    ) -> AsyncIterator[TurnEvent]:
        parts: list[str] = []
        usage: Usage | None = None
        stored: Message | None = None
        try:
            async with aclosing(self.model.stream(window.prompt, self._params())) as stream:
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
            if text or complete:
                status = "complete" if complete else "interrupted"
                if target is None:
                    stored = self.store.add_message(
                        conversation_id=conversation_id, role="assistant", content=text,
                        status=status,
                    )
                else:
                    stored = self.store.add_swipe(target.id, content=text, status=status)
        assert stored is not None and usage is not None
        yield TurnFinished(stored, usage)
