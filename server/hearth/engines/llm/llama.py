"""The local chat model: one GGUF in llama.cpp, through llama-cpp-python.

`LlamaModel` is the synchronous adapter (render, count, generate, prefill); it
keeps the KV caches of conversations it is not serving in `ParkedCaches`. Use it
through `ModelOwner`: it is not thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from hearth.engines.llm.kv_slots import ParkedCaches
from hearth.engines.llm.types import (
    ChatMessage,
    Finished,
    Prompt,
    SamplingParams,
    Token,
    Usage,
    check_fits,
)
from hearth.engines.llm.vocab import Vocab, check_model_file, llama_class


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
        Llama = llama_class()
        check_model_file(path)
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
        self._parked = ParkedCaches(kv_sessions, self._full_window_state_bytes())
        self.vocab = Vocab(self._llama, self.path.name)

    def render(self, messages: list[ChatMessage], reply_start: str = "") -> Prompt:
        return self.vocab.render(messages, reply_start=reply_start)

    def render_text(self, text: str) -> Prompt:
        return self.vocab.render_text(text)

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
        check_fits(prompt, params, self.n_ctx)
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

