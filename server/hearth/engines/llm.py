"""The chat model: llama.cpp through llama-cpp-python, and nothing else imports it.

`LlamaModel` is the synchronous adapter (render, count, generate). `ModelOwner`
is the one owner every request goes through: it queues requests in front of the
model (llama.cpp is not thread-safe), runs generation in a worker thread, and
stops it at once when the caller goes away.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from hearth.config import LLMSettings
from hearth.errors import Busy, InvalidInput

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]

# Used only when a GGUF carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


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
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Token | Finished]: ...


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
    ) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as e:  # pragma: no cover - install problem
            raise RuntimeError(
                "llama-cpp-python is not installed: run `make run` or "
                "`pip install llama-cpp-python`"
            ) from e
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"chat model not found at {path}: run `python scripts/install_models.py` "
                "or pass --model PATH to a GGUF file"
            )
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
        meta = self._llama.metadata
        template = meta.get("tokenizer.chat_template") or CHATML_TEMPLATE
        if "tokenizer.chat_template" not in meta:
            log.warning("%s has no chat template; falling back to ChatML", path.name)
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._piece(self._llama.token_eos()),
            bos_token=self._piece(self._llama.token_bos()),
        )

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", errors="ignore")

    def render(self, messages: list[ChatMessage]) -> Prompt:
        result = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        tokens = self._llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return Prompt(text=result.prompt, tokens=tokens, stop=tuple(stop))

    def count(self, text: str) -> int:
        """Exact token count of `text` with the model's tokenizer (no BOS)."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _reusable_prefix(self, tokens: list[int]) -> int:
        cached = self._llama.input_ids[: self._llama.n_tokens]
        n = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            n += 1
        # llama.cpp re-evaluates the last prompt token to get fresh logits.
        return min(n, len(tokens) - 1)

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event
    ) -> Iterator[Token | Finished]:
        if len(prompt.tokens) + params.max_tokens > self.n_ctx:
            raise InvalidInput(
                f"prompt of {len(prompt.tokens)} tokens plus a {params.max_tokens}-token reply "
                f"does not fit the {self.n_ctx}-token context"
            )
        reused = self._reusable_prefix(prompt.tokens)
        start = time.perf_counter()
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


@dataclass
class _Failed:
    error: BaseException


@dataclass
class ModelOwner:
    """The single owner of the chat model: a bounded queue and one lock in front of it."""

    model: ChatModel
    queue_size: int = 16
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # fair queue of requests
    _running: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time
    _waiting: int = 0

    @property
    def n_ctx(self) -> int:
        return self.model.n_ctx

    def render(self, messages: list[ChatMessage]) -> Prompt:
        # Tokenizing reads the vocabulary only, so it may run beside a generation.
        return self.model.render(messages)

    def count(self, text: str) -> int:
        return self.model.count(text)

    def check_capacity(self) -> None:
        """Raise `Busy` when the wait queue is full, before a caller stores anything."""
        if self._waiting >= self.queue_size:
            raise Busy(
                f"the model is busy with {self._waiting} waiting requests; try again in a few seconds"
            )

    async def stream(self, prompt: Prompt, params: SamplingParams) -> AsyncIterator[Token | Finished]:
        """Yield the reply as it is generated. Closing the iterator stops generation at once."""
        self.check_capacity()
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            async for item in self._pull(prompt, params):
                yield item
        finally:
            self._lock.release()

    async def _pull(self, prompt: Prompt, params: SamplingParams) -> AsyncIterator[Token | Finished]:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Token | Finished | _Failed | None] = asyncio.Queue()
        cancel = threading.Event()

        def produce() -> None:
            try:
                with self._running:
                    for item in self.model.generate(prompt, params, cancel):
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
                yield item
        finally:
            cancel.set()
            # Cancellation may be delivered again while we wait here (anyio cancel
            # scopes do), so `_running` is what truly keeps two generations apart.
            await asyncio.shield(worker)


def load_model(settings: LLMSettings) -> LlamaModel:
    return LlamaModel(
        settings.model_path,
        n_ctx=settings.n_ctx,
        n_gpu_layers=settings.n_gpu_layers,
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
    )
