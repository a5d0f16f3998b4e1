"""The local chat model: one GGUF in llama.cpp, through llama-cpp-python.

`LlamaModel` is the synchronous adapter (render, count, generate, prefill); it
keeps the KV caches of conversations it is not serving in `ParkedCaches`, and starts
a new conversation from a copy of the cache that shares most of its prompt (another
conversation with the same character). Use it through `ModelOwner`: it is not
thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

from hearth.engines.llm.kv_slots import ParkedCaches, find_gap, shared_prefix
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

# A new conversation starts from a copy of another's cache when they share at least
# this many prompt tokens; for fewer, the copy (a few ms) is not worth it.
MIN_SHARED_PREFIX = 16
# A prompt that drops a stretch of the cached one keeps what followed it by moving it
# back in the KV cache, when that saves evaluating at least this many tokens.
MIN_SHIFTED = 16
# Background work evaluates its prompt this many tokens at a time and checks between
# them whether a person's turn is waiting: ~15% slower than 64 at a time on a 2-core
# CPU, but the turn waits a quarter as long (~85 ms instead of ~290).
BACKGROUND_CHUNK = 16


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
        share_prefixes: bool = True,
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
        self._user: Hashable = None  # and whose requests may reuse it
        self.share_prefixes = share_prefixes  # start new sessions from the closest cache
        # llama.cpp is not thread-safe. One owner queues requests in front of the model;
        # this also keeps apart two owners of one loaded model (the tests share one).
        self._busy = threading.Lock()
        self._parked = ParkedCaches(kv_sessions, self._full_window_state_bytes())
        self.vocab = Vocab(self._llama, self.path.name)
        import llama_cpp

        # Positions in the KV cache can move (not in a recurrent or sliding-window one).
        self._can_shift = bool(llama_cpp.llama_memory_can_shift(self._llama._ctx.memory))

    def render(self, messages: list[ChatMessage], reply_start: str = "") -> Prompt:
        return self.vocab.render(messages, reply_start=reply_start)

    def render_text(self, text: str) -> Prompt:
        return self.vocab.render_text(text)

    def count(self, text: str) -> int:
        return self.vocab.count(text)

    def _cached(self) -> list[int]:
        """The tokens sequence 0 holds."""
        return self._llama.input_ids[: self._llama.n_tokens].tolist()

    def _reusable_prefix(self, tokens: list[int]) -> int:
        # llama.cpp re-evaluates the last prompt token to get fresh logits.
        return min(shared_prefix(self._cached(), tokens), len(tokens) - 1)

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

    def _switch_session(self, session: str | None, tokens: list[int], user: Hashable) -> None:
        """Park the KV cache of the current conversation and bring back `session`'s.

        Interleaved conversations would otherwise re-evaluate their whole prompt
        each time they take turns. Only the sequence's KV cells are copied (tens
        of MB for a full small-model window, a few ms), not llama's logits.
        A session with no cache of its own starts from the closest one (`tokens`
        is the prompt about to run).
        """
        if session is not None and session == self._session:
            return
        llama, ctx = self._llama, self._llama._ctx.ctx
        switched = session != self._session
        if switched and self._session is not None and llama.n_tokens > 0:
            self._parked.park(self._session, ctx, self._cached(), self._user, keep=session)
        self._session = session
        if switched and session in self._parked:
            self._load(session, keep_parked=False)
        else:
            self._start_from_closest(tokens, user, switched)
        self._user = user

    def _start_from_closest(self, tokens: list[int], user: Hashable, switched: bool) -> None:
        """Start a session with no cache of its own (new, evicted, or None) from the cached
        state, in sequence 0 or parked, whose tokens share the longest prefix with `tokens`:
        another conversation with the same character shares at least the card. A parked
        one is copied, and stays parked. generate then drops what follows the shared part.

        Only one user's requests share caches: the tokens reused, and the time saved,
        would tell one account what another's prompts hold.
        """
        here = 0
        if user == self._user and (self.share_prefixes or not switched):
            here = shared_prefix(self._cached(), tokens)
        closest = self._parked.closest(tokens, user) if self.share_prefixes else None
        if closest is not None and closest[1] > max(here, MIN_SHARED_PREFIX - 1):
            self._load(closest[0], keep_parked=True)
        elif here == 0:
            self._clear()

    def _close_gap(self, tokens: list[int]) -> None:
        """When `tokens` is the cached prompt less a stretch (the context builder dropped
        the oldest turns of a full window, or a client trimmed its history), remove that
        stretch from the KV cache and move what followed it back to close the gap, as
        KoboldCpp's ContextShift does: the kept turns are not evaluated again. Their cached
        state was computed beside the dropped turns; in exchange, a full window costs a
        turn no more than an ordinary one."""
        llama = self._llama
        if not self._can_shift:
            return
        cached = self._cached()
        gap = find_gap(cached, tokens)
        if gap is None or gap.kept < MIN_SHIFTED:
            return
        ctx, moved = llama._ctx, gap.end - gap.start
        ctx.kv_cache_seq_rm(0, gap.start, gap.end)
        ctx.kv_cache_seq_shift(0, gap.end, len(cached), -moved)
        ctx.kv_cache_seq_rm(0, gap.start + gap.kept, -1)  # what no longer matches
        kept = cached[: gap.start] + cached[gap.end: gap.end + gap.kept]
        llama.input_ids[: len(kept)] = kept
        llama.n_tokens = len(kept)
        # The logits are of the last token decoded, not of `kept`: where `kept` is the whole
        # prompt, llama-cpp-python would sample from them (the end of the reply that was
        # cached, so an empty reply). It then evaluates the last token again.
        llama._requires_eval = True

    def _clear(self) -> None:
        self._llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        self._llama.n_tokens = 0

    def _load(self, session: str, keep_parked: bool) -> None:
        """Load `session`'s parked cache into sequence 0 (empty if that fails)."""
        llama = self._llama
        self._clear()
        tokens = self._parked.load(session, llama._ctx.ctx, keep_parked=keep_parked)
        if tokens is not None:
            llama.input_ids[: len(tokens)] = tokens
            llama.n_tokens = len(tokens)
            llama._requires_eval = True  # logits were not saved: re-evaluate the last token

    def _prefill(self, tokens: list[int], cancel: threading.Event, chunk: int = 64) -> None:
        """Evaluate all but the last prompt token `chunk` tokens at a time, stopping on
        `cancel`. create_completion then finds them cached. Background work and the voice
        loop's pauses use it, so a turn never waits behind a long prompt.
        """
        llama = self._llama
        keep = self._reusable_prefix(tokens)
        llama._ctx.kv_cache_seq_rm(-1, keep, -1)
        llama.n_tokens = keep
        for i in range(keep, len(tokens) - 1, chunk):
            if cancel.is_set():
                return
            llama.eval(tokens[i : min(i + chunk, len(tokens) - 1)])

    def prefill(self, prompt: Prompt, cancel: threading.Event, session: str | None = None,
                user: Hashable = None) -> None:
        """Evaluate `prompt` into `session`'s cache now; a later generation of it starts at once."""
        with self._busy:
            self._switch_session(session, prompt.tokens, user)
            self._close_gap(prompt.tokens)
            self._prefill(prompt.tokens, cancel)

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event,
        session: str | None = None, interruptible: bool = False, user: Hashable = None,
    ) -> Iterator[Token | Finished]:
        with self._busy:
            yield from self._generate(prompt, params, cancel, session, interruptible, user)

    def _generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event,
        session: str | None, interruptible: bool, user: Hashable,
    ) -> Iterator[Token | Finished]:
        check_fits(prompt, params, self.n_ctx)
        self._switch_session(session, prompt.tokens, user)
        self._close_gap(prompt.tokens)
        reused = self._reusable_prefix(prompt.tokens)
        start = time.perf_counter()
        if interruptible:
            self._prefill(prompt.tokens, cancel, chunk=BACKGROUND_CHUNK)
        if cancel.is_set():
            yield Finished(Usage(len(prompt.tokens), reused, 0, 0.0, 0.0, "cancelled"))
            return
        first = None
        completion = 0
        finish = "cancelled"
        stream = self._completion(prompt, params)
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


    def _completion(self, prompt: Prompt, params: SamplingParams) -> Iterator[Any]:
        """llama-cpp-python's streamed completion of `prompt` (never empty: it then asserts)."""
        return iter(self._llama.create_completion(
            prompt=prompt.tokens, max_tokens=params.max_tokens,
            temperature=params.temperature, top_p=params.top_p,
            repeat_penalty=params.repeat_penalty,
            seed=None if params.seed < 0 else params.seed,
            stop=list(prompt.stop + params.stop), stream=True))


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

