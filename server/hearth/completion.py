"""Text completion: a prompt the client built itself, continued by the chat model as it is.

For SillyTavern's text-completion modes and other tools that bring their own template:
no chat template, no character, no memory, and nothing is stored. Generation queues
with the chat turns at the model's one owner, so people take turns fairly, and it stops
as soon as the caller closes the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace

from hearth.engines.llm import Finished, ModelOwner, Prompt, SamplingParams, Token
from hearth.errors import InvalidInput, TooLarge

AS_MANY_AS_FIT = -1  # max_tokens: the rest of the window (llama.cpp's n_predict -1)


@dataclass(frozen=True)
class TextCompletion:
    prompt: Prompt
    params: SamplingParams


def prepare(model: ModelOwner, text: str, params: SamplingParams,
            max_tokens: int | None = None, field: str = "max_tokens") -> TextCompletion:
    """Tokenize `text` and check that it and a `max_tokens` reply fit the window: a
    request that does not is refused, never cut. Without `max_tokens`, the reply gets
    `params.max_tokens`, or what is left of the window when that is less. `field` is
    what the client calls max_tokens, for the error message."""
    if not text:
        raise InvalidInput("prompt: it is empty; send the text to continue")
    prompt = model.render_text(text)
    if not prompt.tokens:  # control characters the tokenizer drops, say
        raise InvalidInput("prompt: the model reads no tokens in it (only control characters?); "
                           "send the text to continue")
    used, n_ctx = len(prompt.tokens), model.n_ctx
    room = n_ctx - used
    if room < 1:
        raise TooLarge(f"prompt: {used} tokens, and the model's window holds {n_ctx} with "
                       "the reply; shorten the prompt")
    if max_tokens is None:
        max_tokens = min(params.max_tokens, room)
    elif max_tokens == AS_MANY_AS_FIT:
        max_tokens = room
    elif max_tokens > room:
        raise InvalidInput(f"{field}: {max_tokens} tokens do not fit; the prompt takes {used} of "
                           f"the model's {n_ctx}-token window, which leaves {room}: ask for at "
                           "most that many, or shorten the prompt")
    return TextCompletion(prompt, replace(params, max_tokens=max_tokens))


async def generate(model: ModelOwner, completion: TextCompletion, *, user: int
                   ) -> AsyncIterator[Token | Finished]:
    """The continuation, piece by piece, then `Finished`. Each person's text completions
    share one KV cache session, so a prompt that grows turn by turn is not evaluated
    again from its start."""
    stream = model.stream(completion.prompt, completion.params, session=f"text-{user}",
                          user=user)
    async with aclosing(stream):
        async for item in stream:
            yield item
