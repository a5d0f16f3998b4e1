"""The chat model: llama.cpp through llama-cpp-python, and nothing else imports it.

`LlamaModel` is the synchronous adapter (render, count, generate). `ModelOwner`
is the one owner every request goes through: it queues requests in front of the
model (llama.cpp is not thread-safe), runs generation in a worker thread, and
stops it at once when the caller goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from hearth.config import LLMSettings
from hearth.engines.fairlock import FairLock
from hearth.errors import Busy, InvalidInput

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]

# Used only when a GGUF carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


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

    def render(self, messages: list[ChatMessage]) -> Prompt: ...

    def count(self, text: str) -> int: ...

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event,
        session: str | None = None, interruptible: bool = False,
    ) -> Iterator[Token | Finished]: ...

    def prefill(self, prompt: Prompt, cancel: threading.Event, session: str | None = None
                ) -> None: ...


def _llama_class() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as e:  # pragma: no cover - install problem
        raise RuntimeError(
            "llama-cpp-python is not installed: run `make run` or `pip install llama-cpp-python`"
        ) from e
    return Llama


def _check_model_file(path: Path) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"chat model not found at {path}: run `python scripts/install_models.py` "
            "or pass --model PATH to a GGUF file"
        )


class Vocab:
    """A GGUF's tokenizer and chat template: exact prompts and token counts.

    Built from a loaded model, or with `Vocab.open` from the vocabulary alone
    (a few MB, under a second) when the model itself runs on another machine.
    """

    def __init__(self, llama: Any, name: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama = llama
        meta = llama.metadata
        template = meta.get("tokenizer.chat_template") or CHATML_TEMPLATE
        if "tokenizer.chat_template" not in meta:
            log.warning("%s has no chat template; falling back to ChatML", name)
        bos = self._piece(llama.token_bos())
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=self._piece(llama.token_eos()), bos_token=bos
        )
        # What tokenizing text puts in front by itself ("" for models without a BOS).
        self.bos_text = bos if llama._model.add_bos_token() else ""

    @classmethod
    def open(cls, path: Path) -> Vocab:
        Llama = _llama_class()
        _check_model_file(path)
        return cls(Llama(model_path=str(path), vocab_only=True, verbose=False), Path(path).name)

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", errors="ignore")
    def render(self, messages: list[ChatMessage], *, for_server: bool = False) -> Prompt:
        """The prompt for `messages`. `for_server`: as text for a server that tokenizes it
        the usual way (BOS added when the model wants one), with the tokens it will see."""
        result = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        text, add_bos = result.prompt, not result.added_special
        if for_server:
            text, add_bos = text.removeprefix(self.bos_text), True  # the server adds the BOS
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return Prompt(text=text, tokens=tokens, stop=tuple(stop))

    def count(self, text: str) -> int:
        """Exact token count of `text` with the model's tokenizer (no BOS)."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


class LlamaModel:
    """One loaded GGUF. Not thread-safe: use it through `ModelOwner`."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = 4096,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
        kv_sessions: int = 4,
    ) -> None:
        Llama = _llama_class()
        _check_model_file(path)
        self._llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
            n_threads=n_threads,
            n_batch=n_batch,
            verbose=False,
        )
        self.n_ctx = self._llama.n_ctx()
        self.path = Path(path)
        self._session: str | None = None  # whose prompt the KV cache holds now
        # llama.cpp is not thread-safe. One owner queues requests in front of the model;
        # this also keeps apart two owners of one loaded model (the tests share one).
        self._busy = threading.Lock()
        self._parked = _ParkedCaches(kv_sessions, self._full_window_state_bytes())
        self.vocab = Vocab(self._llama, self.path.name)

    def render(self, messages: list[ChatMessage]) -> Prompt:
        return self.vocab.render(messages)

    def count(self, text: str) -> int:
        return self.vocab.count(text)

    def _reusable_prefix(self, tokens: list[int]) -> int:
        cached = self._llama.input_ids[: self._llama.n_tokens]
        n = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            n += 1
        # llama.cpp re-evaluates the last prompt token to get fresh logits.
        return min(n, len(tokens) - 1)

    def _full_window_state_bytes(self) -> int:
        """Bytes `llama_state_seq_get_data` needs for a full window of this model.

        The state is a header plus the same number of bytes for every cached
        token, so two one-token evaluations tell both.
        """
        import llama_cpp

        llama, ctx = self._llama, self._llama._ctx.ctx
        sizes = []
        for n in (1, 2):
            llama.eval([llama.token_bos() if llama.token_bos() >= 0 else 0])
            assert llama.n_tokens == n
            sizes.append(llama_cpp.llama_state_seq_get_size(ctx, 0))
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        llama.n_tokens = 0
        per_token = sizes[1] - sizes[0]
        return sizes[0] + per_token * (self.n_ctx - 1)

    def _switch_session(self, session: str | None) -> None:
        """Park the KV cache of the current conversation and bring back `session`'s.

        Interleaved conversations would otherwise re-evaluate their whole prompt
        each time they take turns. Only the sequence's KV cells are copied (tens
        of MB for a full small-model window, a few ms), not llama's logits.
        """
        if session == self._session:
            return
        llama, ctx = self._llama, self._llama._ctx.ctx
        if self._session is not None and llama.n_tokens > 0:
            self._parked.park(self._session, ctx, llama.input_ids[: llama.n_tokens].tolist(),
                              keep=session)
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        llama.n_tokens = 0
        tokens = self._parked.restore(session, ctx) if session is not None else None
        if tokens is not None:
            llama.input_ids[: len(tokens)] = tokens
            llama.n_tokens = len(tokens)
            llama._requires_eval = True  # logits were not saved: re-evaluate the last token
        self._session = session

    def _prefill(self, tokens: list[int], cancel: threading.Event, chunk: int = 64) -> None:
        """Evaluate all but the last prompt token in small steps, stopping on `cancel`.

        create_completion then finds them cached. Used for background work, so a
        user's turn never waits behind a long summary prompt.
        """
        llama = self._llama
        keep = self._reusable_prefix(tokens)
        llama._ctx.kv_cache_seq_rm(-1, keep, -1)
        llama.n_tokens = keep
        for i in range(keep, len(tokens) - 1, chunk):
            if cancel.is_set():
                return
            llama.eval(tokens[i : min(i + chunk, len(tokens) - 1)])

    def prefill(self, prompt: Prompt, cancel: threading.Event, session: str | None = None
                ) -> None:
        """Evaluate `prompt` into `session`'s cache now; a later generation of it starts at once."""
        with self._busy:
            self._switch_session(session)
            self._prefill(prompt.tokens, cancel)

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event,
        session: str | None = None, interruptible: bool = False,
    ) -> Iterator[Token | Finished]:
        with self._busy:
            yield from self._generate(prompt, params, cancel, session, interruptible)

    def _generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event,
        session: str | None, interruptible: bool,
    ) -> Iterator[Token | Finished]:
        if len(prompt.tokens) + params.max_tokens > self.n_ctx:
            raise InvalidInput(
                f"prompt of {len(prompt.tokens)} tokens plus a {params.max_tokens}-token reply "
                f"does not fit the {self.n_ctx}-token context"
            )
        self._switch_session(session)
        reused = self._reusable_prefix(prompt.tokens)
        start = time.perf_counter()
        if interruptible:
            self._prefill(prompt.tokens, cancel)
        if cancel.is_set():
            yield Finished(Usage(len(prompt.tokens), reused, 0, 0.0, 0.0, "cancelled"))
            return
        first = None
        completion = 0
        finish = "cancelled"
        stream = self._llama.create_completion(
            prompt=prompt.tokens,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            repeat_penalty=params.repeat_penalty,
            seed=None if params.seed < 0 else params.seed,
            stop=list(prompt.stop + params.stop),
            stream=True,
        )
        try:
            for chunk in stream:
                if cancel.is_set():
                    break
                choice = chunk["choices"][0]
                if choice["text"]:
                    if first is None:
                        first = time.perf_counter()
                    completion += 1
                    yield Token(choice["text"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        finally:
            stream.close()  # type: ignore[attr-defined]
        end = time.perf_counter()
        first = first or end
        yield Finished(
            Usage(
                prompt_tokens=len(prompt.tokens),
                prompt_tokens_reused=reused,
                completion_tokens=completion,
                prompt_ms=(first - start) * 1000,
                decode_ms=(end - first) * 1000,
                finish_reason=finish,
            )
        )


AHEAD = 1  # tokens generation may run ahead of a stream's reader


@dataclass(frozen=True)
class _Parked:
    slot: int
    size: int
    tokens: list[int]


class _ParkedCaches:
    """The KV caches of conversations not being served, most recent first.

    Each has a slot of one full window's bytes, allocated and touched when the
    model loads, and llama.cpp copies straight in and out of it: the memory is
    taken once and stays flat however conversations come and go. The least
    recently served conversation gives up its slot to a newer one.
    """

    def __init__(self, slots: int, slot_bytes: int) -> None:
        self.slot_bytes = slot_bytes
        self._slots = [(ctypes.c_uint8 * slot_bytes)() for _ in range(slots)]
        for slot in self._slots:
            ctypes.memset(slot, 0, slot_bytes)  # make it resident now, not as caches grow
        self._free = list(range(slots))
        self._parked: OrderedDict[str, _Parked] = OrderedDict()
        if slots:
            log.info("keeping %d conversations' KV caches, %.0f MiB each",
                     slots, slot_bytes / 2**20)

    def park(self, session: str, ctx: object, tokens: list[int], keep: str | None) -> None:
        """Copy sequence 0's cache out for `session`, evicting any but `keep` (restored next)."""
        import llama_cpp

        if session in self._parked:
            self._free.append(self._parked.pop(session).slot)
        if not self._free:
            oldest = next((s for s in self._parked if s != keep), None)
            if oldest is None:
                return
            self._free.append(self._parked.pop(oldest).slot)
        slot = self._free.pop()
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size > self.slot_bytes:  # cannot happen for one window; never overrun the slot
            log.warning("KV state of %d bytes exceeds its %d-byte slot", size, self.slot_bytes)
            self._free.append(slot)
            return
        written = llama_cpp.llama_state_seq_get_data(ctx, self._slots[slot], self.slot_bytes, 0)
        self._parked[session] = _Parked(slot, written, tokens)

    def restore(self, session: str, ctx: object) -> list[int] | None:
        """Load `session`'s cache into sequence 0 and give its tokens, or None if not kept."""
        import llama_cpp

        parked = self._parked.pop(session, None)
        if parked is None:
            return None
        self._free.append(parked.slot)
        loaded = llama_cpp.llama_state_seq_set_data(ctx, self._slots[parked.slot], parked.size, 0)
        return parked.tokens if loaded == parked.size else None


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
    generation: int = 0  # how many times the model was switched (`swap`)

    @property
    def n_ctx(self) -> int:
        return self.model.n_ctx

    def render(self, messages: list[ChatMessage]) -> Prompt:
        # Tokenizing reads the vocabulary only, so it may run beside a generation.
        generation = self.generation  # read first: a swap sets the model, then the count
        prompt = self.model.render(messages)
        return replace(prompt, messages=tuple(messages), generation=generation)

    def swap(self, model: ChatModel) -> ChatModel:
        """Put `model` in place of the current one between two generations (blocks until
        the running one ends) and return the old one. Its parked KV caches go with it;
        prompts rendered for it are rendered again for `model` when their turn comes."""
        with self._running:
            old, self.model = self.model, model
            self.generation += 1
        return old

    def _current(self, prompt: Prompt) -> Prompt:
        """`prompt` as the current model renders it (call holding `_running`)."""
        if prompt.generation == self.generation or not prompt.messages:
            return prompt
        return self.render(list(prompt.messages))

    def count(self, text: str) -> int:
        return self.model.count(text)

    def check_capacity(self, user: Hashable = None) -> None:
        """Raise `Busy` when the wait queue (or this user's share of it) is full, before a
        caller stores anything."""
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

    async def stream(
        self, prompt: Prompt, params: SamplingParams, *, session: str | None = None,
        user: Hashable = None, background: bool = False,
    ) -> AsyncIterator[Token | Finished]:
        """Yield the reply as it is generated. Closing the iterator stops generation at once,
        and a request closed while it waits leaves the queue.

        `session` names whose KV cache this prompt extends (a conversation). Users take
        turns: `user`'s requests wait behind at most one request of each other user.
        Background work (summaries, facts) waits until no user is waiting and gives way
        at once to a user's request: it then ends with finish_reason "cancelled".
        """
        cancel = threading.Event()
        if background:
            while not self.idle:
                await asyncio.sleep(0.05)
            self._background_cancel = cancel
        else:
            self.check_capacity(user)
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
            if background and not self.idle:
                cancel.set()  # a user arrived while we queued: don't start at all
            async for item in self._pull(prompt, params, session, cancel, background):
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
                        self.model.prefill(self._current(prompt), cancel, session)

                await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, run))
            finally:
                cancel.set()
                self._turns.release()
        finally:
            self._foreground -= 1

    async def _pull(
        self, prompt: Prompt, params: SamplingParams, session: str | None,
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
                    self._current(prompt), params, cancel, session, interruptible=background
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
                yield item
        finally:
            cancel.set()
            # Cancellation may be delivered again while we wait here (anyio cancel
            # scopes do), so `_running` is what truly keeps two generations apart.
            await asyncio.shield(worker)


def keep_heap_small() -> None:
    """Ask glibc to hand large freed blocks back to the system.

    Parking a conversation's KV cache copies 10-100 MB in and out of Python on
    every switch. glibc raises its mmap threshold after such blocks are freed and
    then serves them from per-thread heaps it never shrinks, so a busy server's
    memory creeps up. A fixed threshold keeps big blocks mmapped (returned on
    free) and two arenas bound the thread heaps. Not glibc: nothing to do.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: 1 MiB, and no longer adjusted
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def can_load(path: Path) -> bool:
    """Whether this llama.cpp can open the GGUF at `path`: its vocabulary is read, its
    weights are not (well under a second). False for an architecture it does not know."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs every key it reads
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        return False
    llama_cpp.llama_model_free(model)
    return True


def load_model(settings: LLMSettings) -> ChatModel:
    if settings.backend == "remote":
        from hearth.engines.remote_llm import RemoteModel

        return RemoteModel.from_settings(settings)
    keep_heap_small()
    return LlamaModel(
        settings.model_path,
        n_ctx=settings.n_ctx,
        n_gpu_layers=settings.n_gpu_layers,
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
        kv_sessions=settings.kv_sessions,
    )
