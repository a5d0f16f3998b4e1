"""Text completion: `POST /v1/completions` (OpenAI), and the small native endpoints that
SillyTavern's llama.cpp and KoboldCpp modes call: llama.cpp's `POST /completion`,
KoboldCpp's `POST /api/v1/generate`, `GET /api/v1/model` and `GET /api/extra/version`.

All of them continue the client's own prompt as it is (`hearth.completion`): no chat
template, nothing stored. The model ids are those of `GET /v1/models`; the native
endpoints name none and answer as the first character's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from hearth import __version__, completion
from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.routes.openai_chat import (
    CompletionUsage,
    StreamOptions,
    _data,
    _find_model,
    _finish_reason,
    _utf8,
    models,
)
from hearth.api.streaming import STREAM_HEADERS
from hearth.engines.llm import Finished, SamplingParams, Token, Usage
from hearth.errors import HearthError, InvalidInput, NotFound
from hearth.services import Services
from hearth.store import User

router = APIRouter(tags=["text completion"])

MAX_STOP = 16  # SillyTavern sends more stop strings than OpenAI's 4
KOBOLDCPP_VERSION = "1.80"  # the KoboldCpp API this imitates (SillyTavern checks it)
DISCONNECT_POLL_S = 0.25  # how often a non-streamed request checks its client is still there

Frames = Callable[[str | Usage], list[dict[str, Any]]]  # a piece (str) or the end (Usage)


def _stops(v: str | list[str] | None) -> list[str]:
    stops = [v] if isinstance(v, str) else v or []
    if len(stops) > MAX_STOP:
        raise ValueError(f"at most {MAX_STOP} stop sequences")
    return [_utf8(s) for s in stops]


class Sampling(BaseModel):
    """What every text-completion request may set; other fields are ignored."""

    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    seed: int | None = Field(None, ge=-1, le=2**31 - 1, description="-1: a random one.")

    def params(self, services: Services, stop: list[str]) -> SamplingParams:
        return services.chat.sampling(
            temperature=self.temperature, top_p=self.top_p, stop=stop,
            seed=None if self.seed is None or self.seed < 0 else self.seed)


async def _prepare(services: Services, user: User, text: str, body: Sampling, stop: list[str],
                   max_tokens: int | None, field: str) -> completion.TextCompletion:
    services.model.check_capacity(user.id)
    return await run_in_threadpool(completion.prepare, services.model, _utf8_input(text),
                                   body.params(services, stop), max_tokens, field)


def _utf8_input(text: str) -> str:
    try:
        return _utf8(text)
    except ValueError as e:
        raise InvalidInput(f"prompt: it {e}") from None


async def _whole(items: AsyncIterator[Token | Finished], request: Request
                 ) -> tuple[str, Usage] | None:
    """The whole continuation; None when the client left first (generation stops then)."""

    async def collect() -> tuple[str, Usage]:
        parts: list[str] = []
        async with aclosing(items):
            async for item in items:
                if isinstance(item, Finished):
                    return "".join(parts), item.usage
                parts.append(item.text)
        raise RuntimeError("generation ended without finishing")

    task = asyncio.ensure_future(collect())
    while not task.done():
        await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
        if not task.done() and await request.is_disconnected():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return None
    return task.result()


def _stream(items: AsyncIterator[Token | Finished], frames: Frames, done: str | None
            ) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        async with aclosing(items):
            try:
                async for item in items:
                    for frame in frames(item.text if isinstance(item, Token) else item.usage):
                        yield _data(frame)
            except HearthError as e:
                yield _data({"error": {"code": e.code, "message": e.message}})
                return
        if done:
            yield done

    return StreamingResponse(events(), media_type="text/event-stream", headers=STREAM_HEADERS)


async def _answer(request: Request, items: AsyncIterator[Token | Finished], *, stream: bool,
                  frames: Frames, whole: Callable[[str, Usage], dict[str, Any]],
                  done: str | None = None) -> Response:
    if stream:
        return _stream(items, frames, done)
    result = await _whole(items, request)
    if result is None:
        return Response(status_code=499)  # nobody reads it: the client has gone
    return JSONResponse(whole(*result))


# -- OpenAI: POST /v1/completions ---------------------------------------------------


class CompletionIn(Sampling):
    model: str | None = Field(None, description="A model id from GET /v1/models (which "
                              "character's id the answer carries); default the first one's, "
                              "as KoboldCpp clients send none.")
    prompt: str | list[str] = Field(description="The text to continue, as it is (one).")
    max_tokens: int | None = Field(
        None, ge=1, description="At most what the window leaves after the prompt (else 422); "
        "default llm.max_reply_tokens, or less when less is left.")
    stop: str | list[str] | None = Field(None, description=f"Up to {MAX_STOP} strings.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, description="Only 1.")

    @field_validator("stop")
    @classmethod
    def _stop_texts(cls, v: str | list[str] | None) -> list[str]:
        return _stops(v)

    def text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise InvalidInput(f"prompt: {len(self.prompt)} prompts; send one per request")
        return self.prompt[0]


@router.post("/v1/completions")
async def create_completion(request: Request, services: ServicesDep, user: CurrentUser,
                            body: CompletionIn) -> Response:
    """OpenAI's text completion: `prompt` continued as it is (no chat template) and nothing
    stored. With `stream`, Server-Sent Events of `text_completion` objects and
    `data: [DONE]`; `stream_options.include_usage` adds a last chunk with `usage`."""
    if body.n != 1:
        raise InvalidInput("n: Hearth gives one completion per request; send n = 1 or leave it "
                           "out")
    model = _default_model(services) if body.model is None else _find_model(services,
                                                                              body.model)[0]
    job = await _prepare(services, user, body.text(), body, body.stop or [], body.max_tokens,
                         "max_tokens")
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
            "created": int(time.time()), "model": model}
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def choice(text: str, finish: str | None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}

    def frames(part: str | Usage) -> list[dict[str, Any]]:
        if isinstance(part, str):
            return [{**head, "choices": [choice(part, None)]}]
        last = [{**head, "choices": [choice("", _finish_reason(part))]}]
        if include_usage:
            last.append({**head, "choices": [], "usage": CompletionUsage.of(part).model_dump()})
        return last

    def whole(text: str, usage: Usage) -> dict[str, Any]:
        return {**head, "choices": [choice(text, _finish_reason(usage))],
                "usage": CompletionUsage.of(usage).model_dump()}

    items = completion.generate(services.model, job, user=user.id)
    return await _answer(request, items, stream=body.stream, frames=frames, whole=whole,
                         done="data: [DONE]\n\n")


# -- llama.cpp server: POST /completion ----------------------------------------------


def _default_model(services: Services) -> str:
    """The model id the native endpoints answer as: the first character's."""
    known = models(services)
    if not known:
        raise NotFound("there are no characters yet; add one (POST /api/characters)")
    return next(iter(known))


class LlamaCppIn(Sampling):
    prompt: str
    n_predict: int | None = Field(None, ge=-1, description="-1: as many as fit the window.")
    stop: list[str] = Field(default_factory=list, description=f"Up to {MAX_STOP} strings.")
    stream: bool = False

    @field_validator("stop")
    @classmethod
    def _stop_texts(cls, v: str | list[str] | None) -> list[str]:
        return _stops(v)


@router.post("/completion")
async def llamacpp_completion(request: Request, services: ServicesDep, user: CurrentUser,
                              body: LlamaCppIn) -> Response:
    """llama.cpp server's native completion: `{content, stop, ...}`; with `stream`, one
    `data: {...}` line per piece and a last one with `stop: true`."""
    if body.n_predict == 0:
        raise InvalidInput("n_predict: 0 generates nothing; give a number of tokens, or -1 "
                           "for as many as fit")
    model = _default_model(services)
    job = await _prepare(services, user, body.prompt, body, body.stop, body.n_predict,
                         "n_predict")
    evaluated = len(job.prompt.tokens)

    def final(text: str, usage: Usage) -> dict[str, Any]:
        limit = usage.finish_reason == "length"
        return {"content": text, "stop": True, "model": model, "tokens_predicted":
                usage.completion_tokens, "tokens_evaluated": evaluated,
                "tokens_cached": usage.prompt_tokens_reused, "stopped_limit": limit,
                "stop_type": "limit" if limit else "eos", "truncated": False}

    def frames(part: str | Usage) -> list[dict[str, Any]]:
        if isinstance(part, str):
            return [{"content": part, "stop": False}]
        return [final("", part)]

    items = completion.generate(services.model, job, user=user.id)
    return await _answer(request, items, stream=body.stream, frames=frames, whole=final)


# -- KoboldCpp: /api/v1/generate, /api/v1/model, /api/extra/version -------------------


class KoboldIn(Sampling):
    prompt: str
    max_length: int | None = Field(None, ge=1, description="Tokens to generate.")
    stop_sequence: list[str] = Field(default_factory=list,
                                     description=f"Up to {MAX_STOP} strings.")
    sampler_seed: int | None = Field(None, ge=-1, le=2**31 - 1)

    @field_validator("stop_sequence")
    @classmethod
    def _stop_texts(cls, v: str | list[str] | None) -> list[str]:
        return _stops(v)


async def _kobold(request: Request, services: Services, user: User, body: KoboldIn, *,
                  stream: bool) -> Response:
    if body.sampler_seed is not None:
        body = body.model_copy(update={"seed": body.sampler_seed})
    job = await _prepare(services, user, body.prompt, body, body.stop_sequence,
                         body.max_length, "max_length")

    def whole(text: str, usage: Usage) -> dict[str, Any]:
        return {"results": [{"text": text, "finish_reason": _finish_reason(usage)}]}

    def frames(part: str | Usage) -> list[dict[str, Any]]:
        if isinstance(part, str):
            return [{"token": part, "finish_reason": None}]
        return [{"token": "", "finish_reason": _finish_reason(part)}]

    items = completion.generate(services.model, job, user=user.id)
    return await _answer(request, items, stream=stream, frames=frames, whole=whole)


@router.post("/api/v1/generate")
async def kobold_generate(request: Request, services: ServicesDep, user: CurrentUser,
                          body: KoboldIn) -> Response:
    """KoboldCpp's generate: `{results: [{text, finish_reason}]}`."""
    return await _kobold(request, services, user, body, stream=False)


@router.post("/api/extra/generate/stream")
async def kobold_generate_stream(request: Request, services: ServicesDep, user: CurrentUser,
                                 body: KoboldIn) -> Response:
    """KoboldCpp's streamed generate: `data: {token, finish_reason}` lines, the last
    with an empty token and the finish reason. Leaving stops generation."""
    return await _kobold(request, services, user, body, stream=True)


class TokenCountIn(BaseModel):
    prompt: str = Field(max_length=1_000_000)


class TokenCount(BaseModel):
    value: int


@router.post("/api/extra/tokencount")
def kobold_tokencount(services: ServicesDep, user: CurrentUser, body: TokenCountIn
                      ) -> TokenCount:
    """KoboldCpp's token count of `prompt`, by the chat model's own tokenizer."""
    return TokenCount(value=len(services.model.render_text(_utf8_input(body.prompt)).tokens))


class KoboldResult(BaseModel):
    result: str


class KoboldVersion(BaseModel):
    result: Literal["KoboldCpp"] = "KoboldCpp"
    version: str = KOBOLDCPP_VERSION
    hearth: str = __version__


@router.get("/api/v1/model")
def kobold_model(services: ServicesDep) -> KoboldResult:
    """The model id the native endpoints answer as (the first character's)."""
    return KoboldResult(result=_default_model(services))


@router.get("/api/extra/version")
def kobold_version() -> KoboldVersion:
    """Says "KoboldCpp", so KoboldCpp clients take Hearth for one."""
    return KoboldVersion()
