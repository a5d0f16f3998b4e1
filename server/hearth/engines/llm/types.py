"""What the chat model takes and gives: messages, sampling, prompts, streamed items, the
`ChatModel` protocol every backend meets, and the one check that a prompt and its reply
fit the window. Nothing here imports a model library."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from hearth.errors import InvalidInput

Role = Literal["system", "user", "assistant"]


class Preempted(Exception):
    """Background model work gave way to a user's turn; try it again later."""


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    seed: int = -1
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt and its exact tokens."""

    text: str
    tokens: list[int]
    stop: tuple[str, ...] = ()
    # Set by `ModelOwner.render`: what was rendered, for which model, so a prompt that
    # waited while the model was switched is rendered again for the new one.
    messages: tuple[ChatMessage, ...] = ()
    generation: int = 0
    raw: bool = False  # a client's own text, no chat template (`render_text`)
    reply_start: str = ""  # the reply's text so far, after the generation prompt (continue)


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    prompt_tokens_reused: int
    completion_tokens: int
    prompt_ms: float  # request start to first token: queueing excluded, prompt evaluation included
    decode_ms: float
    finish_reason: str  # "stop" | "length" | "cancelled"

    @property
    def prompt_tokens_evaluated(self) -> int:
        return self.prompt_tokens - self.prompt_tokens_reused


@dataclass(frozen=True)
class Finished:
    usage: Usage


class ChatModel(Protocol):
    """What the rest of Hearth needs from a chat model."""

    n_ctx: int

    def render(self, messages: list[ChatMessage], reply_start: str = "") -> Prompt:
        """The prompt for `messages`, the reply opened with `reply_start` (to go on from)."""
        ...

    def render_text(self, text: str) -> Prompt: ...

    def count(self, text: str) -> int: ...

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event,
        session: str | None = None, interruptible: bool = False, user: Hashable = None,
    ) -> Iterator[Token | Finished]:
        """`session` names whose KV cache the prompt extends; `user`, whose requests may
        share cached state with it."""
        ...

    def prefill(self, prompt: Prompt, cancel: threading.Event, session: str | None = None,
                user: Hashable = None) -> None: ...


def fits(prompt_tokens: int, reply_tokens: int, n_ctx: int) -> bool:
    """Whether a prompt and a reply of up to `reply_tokens` fit an `n_ctx`-token window.

    The one such check: the models apply it to every generation, the context builder
    to the prompt it packs (with its reply reserve).
    """
    return prompt_tokens + reply_tokens <= n_ctx


def check_fits(prompt: Prompt, params: SamplingParams, n_ctx: int) -> None:
    """Raise `InvalidInput` unless `prompt` and a `params.max_tokens` reply fit `n_ctx`."""
    if not fits(len(prompt.tokens), params.max_tokens, n_ctx):
        raise InvalidInput(
            f"prompt of {len(prompt.tokens)} tokens plus a {params.max_tokens}-token reply "
            f"does not fit the {n_ctx}-token context"
        )
