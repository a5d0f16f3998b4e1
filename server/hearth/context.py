"""The context builder: packs one turn's prompt into the model's window.

Order: system prompt + card, then as many recent turns as fit (newest kept,
oldest dropped first), then the new message, then the card's post-history
instructions. A reply reserve is never given away, and every count comes from
the model's own tokenizer, with the final prompt checked whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hearth.characters import substitute
from hearth.engines.llm import ChatMessage, ModelOwner, Prompt
from hearth.errors import TooLarge
from hearth.store import Message

DEFAULT_SYSTEM_PROMPT = (
    "You are {{char}}, talking with {{user}}. Stay in character, speak in the first person, "
    "and keep replies to a few natural sentences."
)


@dataclass(frozen=True)
class Block:
    name: str
    tokens: int
    message_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Window:
    messages: list[ChatMessage]
    prompt: Prompt
    blocks: list[Block] = field(default_factory=list)
    turns_dropped: int = 0

    @property
    def tokens(self) -> int:
        return len(self.prompt.tokens)


def system_text(card: dict, *, user: str) -> str:
    """The card as one system message: persona, scenario and example dialogue."""
    char = card["name"]
    parts = [card.get("system_prompt") or DEFAULT_SYSTEM_PROMPT]
    if card.get("description"):
        parts.append(card["description"])
    if card.get("personality"):
        parts.append(f"{char}'s personality: {card['personality']}")
    if card.get("scenario"):
        parts.append(f"Scenario: {card['scenario']}")
    if card.get("mes_example"):
        parts.append("Example dialogue:\n" + card["mes_example"].replace("<START>", "").strip())
    return substitute("\n\n".join(parts), char=char, user=user)


class ContextBuilder:
    def __init__(self, model: ModelOwner, *, reply_reserve: int) -> None:
        self.model = model
        self.reply_reserve = reply_reserve

    @property
    def budget(self) -> int:
        """Prompt tokens available: the window less the reply reserve."""
        return self.model.n_ctx - self.reply_reserve

    def build(
        self, *, card: dict, user: str, history: Sequence[Message], new_message: str | None
    ) -> Window:
        """Pack the window. `new_message` None means: answer the last message of `history`."""
        char = card["name"]
        system = ChatMessage("system", system_text(card, user=user))
        tail: list[ChatMessage] = []
        if new_message is not None:
            tail.append(ChatMessage("user", new_message))
        if card.get("post_history_instructions"):
            text = substitute(card["post_history_instructions"], char=char, user=user)
            tail.append(ChatMessage("system", text))

        fixed = self.model.render([system, *tail])
        if len(fixed.tokens) > self.budget:
            raise TooLarge(
                f"the message does not fit the window: with the character card it needs "
                f"{len(fixed.tokens)} tokens, but {self.budget} are free ({self.model.n_ctx} "
                f"context less a {self.reply_reserve}-token reply reserve); shorten it"
            )

        # Newest turns first, each costed exactly as it renders after the system prompt.
        base = len(self.model.render([system]).tokens)
        free = self.budget - len(fixed.tokens)
        kept: list[Message] = []
        for message in reversed(history):
            turn = ChatMessage(message.role, message.content)  # type: ignore[arg-type]
            cost = len(self.model.render([system, turn]).tokens) - base
            if cost > free:
                break
            free -= cost
            kept.append(message)
        kept.reverse()

        # Boundaries between turns can tokenize differently from turns alone:
        # check the whole prompt and drop the oldest turn until it fits.
        while True:
            turns = [ChatMessage(m.role, m.content) for m in kept]  # type: ignore[arg-type]
            messages = [system, *turns, *tail]
            prompt = self.model.render(messages)
            if len(prompt.tokens) <= self.budget or not kept:
                break
            kept.pop(0)

        history_tokens = len(prompt.tokens) - len(fixed.tokens)
        blocks = [
            Block("system", base),
            Block("recent_turns", history_tokens, tuple(m.id for m in kept)),
            Block("new_message", len(fixed.tokens) - base),
        ]
        return Window(
            messages=messages,
            prompt=prompt,
            blocks=blocks,
            turns_dropped=len(history) - len(kept),
        )
