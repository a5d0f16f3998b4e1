"""A chat model served by another machine over the OpenAI-compatible API; nothing else
imports httpx for it.

For a household that outgrows one box: a bigger model on a GPU machine, served
by llama.cpp's `llama-server`, vLLM, Ollama or llama-cpp-python's server. Hearth
keeps memory, context building and voice here and sends only the packed prompt.

The prompt goes as raw text to `/v1/completions`, rendered here with the model's
own chat template, so the stable prefix the context builder keeps is
byte-identical from turn to turn and the server's prompt cache reuses it. Token
counts come from the same model's GGUF, read for its vocabulary only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Hashable, Iterator
from typing import Any

import httpx

from hearth.config import LLMSettings
from hearth.engines.llm.types import (
    ChatMessage,
    Finished,
    Prompt,
    SamplingParams,
    Token,
    Usage,
    check_fits,
)
from hearth.engines.llm.vocab import Vocab
from hearth.errors import HearthError, ModelServerError, ModelUnavailable

log = logging.getLogger(__name__)


class RemoteModel:
    """A `ChatModel` whose generation runs on an OpenAI-compatible server at `url`.

    Conversations share the server's prompt cache (`session` is not sent): a
    llama.cpp server with several slots picks the one whose cache fits best.
    """

    def __init__(
        self, url: str, vocab: Vocab, *, n_ctx: int, model: str = "", api_key: str = "",
        timeout: float = 300.0,
    ) -> None:
        self.url = url
        self.vocab = vocab
        self.n_ctx = n_ctx
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._client = httpx.Client(
            base_url=url, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0)
        )

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> RemoteModel:
        log.info("chat model served at %s; tokenizer and template from %s",
                 settings.remote_url, settings.model_path)
        return cls(
            settings.remote_url, Vocab.open(settings.model_path), n_ctx=settings.n_ctx,
            model=settings.remote_model, api_key=settings.remote_api_key,
            timeout=settings.remote_timeout,
        )

    def close(self) -> None:
        self._client.close()

    def render(self, messages: list[ChatMessage], reply_start: str = "") -> Prompt:
        return self.vocab.render(messages, reply_start=reply_start, for_server=True)

    def render_text(self, text: str) -> Prompt:
        return self.vocab.render_text(text)

    def count(self, text: str) -> int:
        return self.vocab.count(text)

    def prefill(self, prompt: Prompt, cancel: threading.Event, session: str | None = None,
                user: Hashable = None) -> None:
        """Have the server evaluate `prompt` into its cache: a one-token request whose
        answer is dropped. A failure only loses the head start, so it is logged, not raised."""
        try:
            for item in self.generate(prompt, SamplingParams(max_tokens=1, temperature=0.0),
                                      cancel, session):
                if isinstance(item, Finished):
                    break
        except HearthError as e:
            log.warning("prefill on %s failed: %s", self.url, e.message)

    def generate(
        self, prompt: Prompt, params: SamplingParams, cancel: threading.Event,
        session: str | None = None, interruptible: bool = False, user: Hashable = None,
    ) -> Iterator[Token | Finished]:
        check_fits(prompt, params, self.n_ctx)
        body: dict[str, Any] = {
            "prompt": prompt.text,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "repeat_penalty": params.repeat_penalty,  # llama.cpp servers; others ignore it
            "stop": list(prompt.stop + params.stop),
            "stream": True,
            "stream_options": {"include_usage": True},
            "cache_prompt": True,  # llama-server: reuse the cached prefix (its default today)
        }
        if self._model:
            body["model"] = self._model
        if params.seed >= 0:
            body["seed"] = params.seed
        start = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        finish: str | None = None
        reported: dict[str, Any] = {}  # usage and timings, from whichever chunk has them
        try:
            with self._client.stream("POST", "/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    hint = (" (is llm.remote_url the server's OpenAI base URL, ending in "
                            "/v1?)" if response.status_code == 404 else "")
                    raise ModelServerError(
                        f"the chat model server at {self.url} answered "
                        f"{response.status_code}: {_error_text(response)}{hint}"
                    )
                # `cancel` is seen between chunks: a request cancelled while the server
                # evaluates a long prompt stops when its first token arrives.
                for data in _sse_data(response):
                    if cancel.is_set():
                        finish = "cancelled"
                        break
                    if data == "[DONE]":
                        break
                    chunk = _json(data, self.url)
                    reported.update({k: chunk[k] for k in ("usage", "timings") if chunk.get(k)})
                    for choice in chunk.get("choices") or ():
                        if choice.get("text"):
                            first = first or time.perf_counter()
                            parts.append(choice["text"])
                            yield Token(choice["text"])
                        finish = choice.get("finish_reason") or finish
        except httpx.TimeoutException as e:
            raise ModelUnavailable(
                f"the chat model server at {self.url} did not answer within "
                f"{self._timeout:.0f} s ({type(e).__name__}); check that it is running and not "
                "overloaded, or raise llm.remote_timeout"
            ) from e
        except httpx.TransportError as e:
            what = "went away mid-reply" if parts else "cannot be reached"
            raise ModelUnavailable(
                f"the chat model server at {self.url} {what} ({e}); start it, or fix "
                "llm.remote_url"
            ) from e
        if finish is None:
            # llama-cpp-python's server ends the stream silently when generation fails.
            raise ModelServerError(
                f"the chat model server at {self.url} ended the reply without finishing it; "
                "its log says why (a prompt longer than its context? set llm.n_ctx to the "
                "server's context size)"
            )
        end = time.perf_counter()
        first = first or end
        completion = (reported.get("usage") or {}).get("completion_tokens")
        if completion is None:  # the server did not say: count what it sent
            completion = self.count("".join(parts))
        yield Finished(Usage(
            prompt_tokens=len(prompt.tokens),
            prompt_tokens_reused=_reused(reported, len(prompt.tokens)),
            completion_tokens=int(completion),
            prompt_ms=(first - start) * 1000,
            decode_ms=(end - first) * 1000,
            finish_reason=finish,
        ))


def _reused(reported: dict[str, Any], prompt_tokens: int) -> int:
    """Prompt tokens the server took from its cache, where it says: llama-server's
    `timings.cache_n`, or OpenAI's `usage.prompt_tokens_details.cached_tokens` (vLLM).
    Servers that report neither (llama-cpp-python's, Ollama) count as 0."""
    timings = reported.get("timings") or {}
    details = (reported.get("usage") or {}).get("prompt_tokens_details") or {}
    cached = timings.get("cache_n", details.get("cached_tokens", 0))
    return max(0, min(int(cached or 0), prompt_tokens))


def _sse_data(response: httpx.Response) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream."""
    for line in response.iter_lines():
        if line.startswith("data:"):
            yield line[5:].strip()


def _json(data: str, url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as e:
        raise ModelServerError(f"the chat model server at {url} sent something that is not "
                               f"JSON: {data[:200]!r}; is llm.remote_url an OpenAI API?") from e
    if isinstance(chunk, dict) and "error" in chunk:
        raise ModelServerError(f"the chat model server failed mid-reply: {_message(chunk)}")
    if not isinstance(chunk, dict):
        raise ModelServerError(f"the chat model server at {url} sent {data[:200]!r}")
    return chunk


def _message(body: Any) -> str:
    error = (body.get("error") or body.get("detail")) if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(error or body)[:500]


def _error_text(response: httpx.Response) -> str:
    try:
        return _message(response.json())
    except ValueError:
        return response.text[:500] or response.reason_phrase
