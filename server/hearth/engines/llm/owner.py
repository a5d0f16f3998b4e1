"""`ModelOwner`: the one owner every request to the chat model goes through.

It queues requests in front of the model (llama.cpp is not thread-safe) with
people taking turns, runs generation in a worker thread, stops it at once when
the caller goes away, and lets background work give way to a user's turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field, replace

from hearth.engines.fairlock import FairLock
from hearth.engines.llm.types import ChatMessage, ChatModel, Finished, Prompt, SamplingParams, Token
from hearth.errors import Busy

AHEAD = 1  # tokens generation may run ahead of a stream's reader
MIN_MEASURED = 32  # prompt tokens a turn must evaluate to tell the prompt speed


@dataclass
class _Failed:
    error: BaseException


@dataclass
class ModelOwner:
    """The single owner of the chat model: a bounded, per-user fair queue in front of it."""

    model: ChatModel
    queue_size: int = 16  # requests that may wait, in all
    queue_per_user: int = 4  # requests one user may have waiting
    _turns: FairLock = field(default_factory=FairLock)  # whose request runs next
    _running: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time
    _foreground: int = 0  # user-facing requests waiting or running
    _background_cancel: threading.Event | None = None
    _holds: int = 0  # people speaking in a voice call (`hold_background`)
    generation: int = 0  # how many times the model was switched (`swap`)
    # Prompt tokens evaluated per second, a running mean over real evaluations (None: not yet).
    prompt_speed: float | None = None

    @property
    def n_ctx(self) -> int:
        return self.model.n_ctx

    def render(self, messages: list[ChatMessage], reply_start: str = "") -> Prompt:
        # Tokenizing reads the vocabulary only, so it may run beside a generation.
        generation = self.generation  # read first: a swap sets the model, then the count
        prompt = self.model.render(messages, reply_start)
        return replace(prompt, messages=tuple(messages), generation=generation,
                       reply_start=reply_start)

    def render_text(self, text: str) -> Prompt:
        """A client's own prompt, as it is (text completion)."""
        generation = self.generation
        return replace(self.model.render_text(text), generation=generation)

    def swap(self, model: ChatModel) -> ChatModel:
        """Put `model` in place of the current one between two generations (blocks until
        the running one ends) and return the old one. Its parked KV caches go with it;
        prompts rendered for it are rendered again for `model` when their turn comes."""
        with self._running:
            old, self.model = self.model, model
            self.generation += 1
            self.prompt_speed = None  # another model, another speed
        return old

    def _current(self, prompt: Prompt) -> Prompt:
        """`prompt` as the current model renders it (call holding `_running`)."""
        if prompt.generation == self.generation:
            return prompt
        if prompt.raw:
            return self.render_text(prompt.text)
        if not prompt.messages:
            return prompt
        return self.render(list(prompt.messages), prompt.reply_start)

    def count(self, text: str) -> int:
        return self.model.count(text)

    def check_capacity(self, user: Hashable = None) -> None:
        """Raise `Busy` when the wait queue (or this user's share of it) is full. Callers
        check before they store anything; `stream` does not check again, so a turn that
        was admitted is never refused after its message is stored (meanwhile, others may
        have filled the queue: it can run over its bound by the turns admitted at once)."""
        waiting = self._turns.waiting()
        if waiting >= self.queue_size:
            raise Busy(
                f"the model is busy with {waiting} waiting requests; try again in a few seconds"
            )
        if user is not None and self._turns.waiting(user) >= self.queue_per_user:
            raise Busy(
                f"you already have {self.queue_per_user} requests waiting for the model; "
                "try again when one has finished"
            )

    @property
    def idle(self) -> bool:
        return self._foreground == 0

    @property
    def _background_waits(self) -> bool:
        return not self.idle or self._holds > 0

    def hold_background(self) -> Callable[[], None]:
        """Stop background work now and keep it waiting until the returned function is
        called (once; more calls do nothing). A voice call holds it while the person
        speaks and their turn is answered: when they pause, the transcript and the reply
        begun in the pause get the CPU that a summary would otherwise share."""
        self._holds += 1
        if self._background_cancel is not None:
            self._background_cancel.set()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._holds -= 1

        return release

    async def stream(
        self, prompt: Prompt, params: SamplingParams, *, session: str | None = None,
        user: Hashable = None, background: bool = False,
    ) -> AsyncIterator[Token | Finished]:
        """Yield the reply as it is generated. Closing the iterator stops generation at once,
        and a request closed while it waits leaves the queue.

        `session` names whose KV cache this prompt extends (a conversation). Users take
        turns: `user`'s requests wait behind at most one request of each other user, and
        share cached prompt state only with each other. Background work (summaries,
        facts) waits until no user is waiting (and no one holds it, `hold_background`)
        and gives way at once to a user's request: it then ends with finish_reason
        "cancelled".
        """
        cancel = threading.Event()
        if background:
            while self._background_waits:
                await asyncio.sleep(0.05)
            self._background_cancel = cancel
        else:
            self._foreground += 1
            if self._background_cancel is not None:
                self._background_cancel.set()
        try:
            await self._turns.acquire("background" if background else user)
        except BaseException:
            if not background:
                self._foreground -= 1
            raise
        try:
            if background and self._background_waits:
                cancel.set()  # a user arrived while we queued: don't start at all
            async for item in self._pull(prompt, params, session, user, cancel, background):
                yield item
        finally:
            self._turns.release()
            if background:
                self._background_cancel = None
            else:
                self._foreground -= 1

    async def prefill(self, prompt: Prompt, *, session: str | None, user: Hashable = None) -> None:
        """Evaluate `prompt` ahead of its generation (the voice loop does this while the
        user pauses). Skipped when anyone is waiting for the model; cancelling the caller
        stops it after the chunk under way."""
        if not self.idle:
            return
        self._foreground += 1
        if self._background_cancel is not None:
            self._background_cancel.set()
        cancel = threading.Event()
        try:
            await self._turns.acquire(user)
            try:
                def run() -> None:
                    with self._running:
                        self.model.prefill(self._current(prompt), cancel, session, user)

                await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, run))
            finally:
                cancel.set()
                self._turns.release()
        finally:
            self._foreground -= 1

    def _measure(self, finished: Finished) -> None:
        """Follow how fast the model evaluates prompts on this machine today (the context
        builder sizes a new window's recall by it). Background work counts too: a new
        conversation's preparation is often the first evaluation a fresh server makes, and
        its 16-token chunks, ~15% slower, only make the estimate cautious."""
        usage = finished.usage
        evaluated = usage.prompt_tokens_evaluated
        if evaluated < MIN_MEASURED or usage.prompt_ms <= 0 or usage.finish_reason == "cancelled":
            return
        speed = evaluated / usage.prompt_ms * 1000
        self.prompt_speed = speed if self.prompt_speed is None else (
            0.7 * self.prompt_speed + 0.3 * speed)

    async def _pull(
        self, prompt: Prompt, params: SamplingParams, session: str | None, user: Hashable,
        cancel: threading.Event, background: bool,
    ) -> AsyncIterator[Token | Finished]:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Token | Finished | _Failed | None] = asyncio.Queue()
        # Generation runs at most a few tokens ahead of the reader: a reader that
        # pauses (the voice loop, while it speaks its first sentence) frees the CPU.
        ahead = threading.Semaphore(AHEAD)

        def produce() -> None:
            try:
                with self._running, contextlib.closing(self.model.generate(
                    self._current(prompt), params, cancel, session, interruptible=background,
                    user=user,
                )) as generated:
                    for item in generated:
                        while not ahead.acquire(timeout=0.05):
                            if cancel.is_set():
                                return
                        loop.call_soon_threadsafe(items.put_nowait, item)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                loop.call_soon_threadsafe(items.put_nowait, _Failed(e))
            finally:
                loop.call_soon_threadsafe(items.put_nowait, None)

        worker = loop.run_in_executor(None, produce)
        try:
            while (item := await items.get()) is not None:
                if isinstance(item, _Failed):
                    raise item.error
                ahead.release()
                if isinstance(item, Finished):
                    self._measure(item)
                yield item
        finally:
            cancel.set()
            # Cancellation may be delivered again while we wait here (anyio cancel
            # scopes do), so `_running` is what truly keeps two generations apart.
            await asyncio.shield(worker)
