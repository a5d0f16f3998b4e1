"""The remote chat model: Hearth packs the prompt, an OpenAI-compatible server generates.

The server is llama-cpp-python's own, started on loopback with the small default
model; its log says how much of each prompt came from its cache.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from hearth.api.app import create_app
from hearth.chat import ReplyDelta, TurnEvent, TurnFinished, TurnStarted
from hearth.config import DEFAULT_MODEL, load_settings
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import (
    ChatMessage,
    Finished,
    LlamaModel,
    ModelOwner,
    SamplingParams,
    Token,
    Vocab,
)
from hearth.engines.llm.remote import RemoteModel
from hearth.errors import ModelServerError, ModelUnavailable
from hearth.services import Services
from tests.conftest import TEST_N_CTX, make_settings
from tests.utils.live import BackendServer, ThreadServer, free_port, llama_server

GREEDY = SamplingParams(max_tokens=24, temperature=0.0, seed=7)


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_server(DEFAULT_MODEL, log, n_ctx=TEST_N_CTX) as server:
        yield server


@pytest.fixture(scope="session")
def remote(backend: BackendServer) -> RemoteModel:
    return RemoteModel(backend.url + "/v1", Vocab.open(DEFAULT_MODEL), n_ctx=TEST_N_CTX)


@pytest.fixture()
def start_remote(backend: BackendServer, embedder: MiniLMEmbedder, tmp_path: Path) -> Iterator[Any]:
    """Services configured with `llm.backend = "remote"`, as a user would set it."""
    opened: list[Services] = []

    def start(url: str | None = None, data_dir: Path | None = None, **llm: Any) -> Services:
        settings = make_settings(data_dir or tmp_path / "data", {"background": False},
                                 backend="remote", remote_url=url or backend.url + "/v1", **llm)
        services = Services.start(settings, embedder=embedder)
        opened.append(services)
        return services

    yield start
    for services in opened:
        services.close()


def cache_hits(backend: BackendServer, since: int) -> list[int]:
    """Prompt tokens the server took from its cache, per request logged after byte `since`."""
    log = backend.log_path.read_text()[since:]
    return [int(n) for n in re.findall(r"Llama\.generate: (\d+) prefix-match hit", log)]


def log_size(backend: BackendServer) -> int:
    return len(backend.log_path.read_text())


def generate(model: Any, prompt: Any, params: SamplingParams = GREEDY) -> tuple[str, Any]:
    items = list(model.generate(prompt, params, threading.Event()))
    assert isinstance(items[-1], Finished)
    assert all(isinstance(i, Token) for i in items[:-1])
    return "".join(i.text for i in items[:-1]), items[-1].usage


def send(services: Services, conversation_id: int, text: str) -> list[TurnEvent]:
    async def run() -> list[TurnEvent]:
        return [e async for e in services.chat.send(services.user, conversation_id, text)]

    return asyncio.run(run())


MESSAGES = [ChatMessage("system", "You are Ember, a warm companion."),
            ChatMessage("user", "What is a nice thing to do on a rainy Sunday?")]


def test_counts_match_the_server_and_the_reply_matches_the_local_model(
    remote: RemoteModel, backend: BackendServer, llama: LlamaModel
) -> None:
    prompt = remote.render(MESSAGES)
    text, usage = generate(remote, prompt)
    assert text.strip() and usage.finish_reason == "length"
    # The server counts the same tokens for the text we sent it.
    body = {"prompt": prompt.text, "max_tokens": 24, "temperature": 0.0, "seed": 7}
    answer = httpx.post(backend.url + "/v1/completions", json=body, timeout=120).json()
    assert usage.prompt_tokens == len(prompt.tokens) == answer["usage"]["prompt_tokens"]
    assert usage.completion_tokens == answer["usage"]["completion_tokens"] == 24
    assert answer["choices"][0]["text"] == text
    # The same prompt, tokens and greedy reply as the model loaded in this process.
    assert prompt.tokens == llama.render(MESSAGES).tokens
    local_text, _ = generate(llama, llama.render(MESSAGES))
    assert local_text == text


def test_max_tokens_and_stop_strings(remote: RemoteModel) -> None:
    prompt = remote.render(MESSAGES)
    text, usage = generate(remote, prompt, SamplingParams(max_tokens=5, temperature=0.0))
    assert usage.finish_reason == "length" and usage.completion_tokens == 5
    full, _ = generate(remote, prompt)
    word = full.split()[3]
    cut, usage = generate(remote, prompt, SamplingParams(max_tokens=24, temperature=0.0,
                                                         stop=(word,)))
    assert usage.finish_reason == "stop"
    assert cut == full[: full.index(word)]
    with pytest.raises(Exception, match="does not fit"):
        generate(remote, prompt, SamplingParams(max_tokens=TEST_N_CTX))


def test_a_conversation_is_stored_and_keeps_a_stable_prefix(
    start_remote: Any, backend: BackendServer
) -> None:
    services = start_remote(max_reply_tokens=24)
    assert isinstance(services.model.model, RemoteModel)
    conversation = services.chat.start_conversation(services.user, 1)
    said = ["Hi! I just got back from a long walk.", "The sea was wild today.",
            "Do you like storms?", "What would you cook on a stormy night?"]
    prompts, hits = [], []
    for text in said:
        before = log_size(backend)
        events = send(services, conversation.id, text)
        started, finished = events[0], events[-1]
        assert isinstance(started, TurnStarted) and isinstance(finished, TurnFinished)
        reply = "".join(e.text for e in events if isinstance(e, ReplyDelta))
        assert finished.message.content == reply.strip() and finished.message.status == "complete"
        assert finished.usage.prompt_tokens == len(started.window.prompt.tokens)
        prompts.append(started.window.prompt.tokens)
        hits.append(cache_hits(backend, before))
    stored = services.store.list_messages(conversation.id)
    assert [m.role for m in stored] == ["assistant"] + ["user", "assistant"] * len(said)
    # From the second turn on, each prompt extends the last one, and the server reuses it.
    for n in range(1, len(said) - 1):
        assert prompts[n + 1][: len(prompts[n])] == prompts[n]
        assert hits[n + 1] and hits[n + 1][-1] >= len(prompts[n]) - 1


def test_prefill_puts_the_prompt_in_the_servers_cache(
    remote: RemoteModel, backend: BackendServer
) -> None:
    owner = ModelOwner(remote)
    prompt = remote.render([*MESSAGES, ChatMessage("assistant", "Read a book."),
                            ChatMessage("user", "Which book would you pick for me?")])
    before = log_size(backend)
    asyncio.run(owner.prefill(prompt, session="c1"))
    generated = log_size(backend)
    text, usage = generate(remote, prompt)
    assert text
    log = backend.log_path.read_text()[generated:]
    assert "full prompt already cached" in log or cache_hits(backend, generated)[-1] >= len(
        prompt.tokens) - 1
    assert log_size(backend) > before


def test_server_down_is_a_clear_error_and_loses_nothing(
    start_remote: Any, tmp_path: Path
) -> None:
    data = tmp_path / "shared"
    down = start_remote(url=f"http://127.0.0.1:{free_port()}/v1", data_dir=data)
    conversation = down.chat.start_conversation(down.user, 1)
    with pytest.raises(ModelUnavailable, match="cannot be reached.*llm.remote_url"):
        send(down, conversation.id, "Are you there?")
    stored = down.store.list_messages(conversation.id)
    assert [(m.role, m.content) for m in stored][-1] == ("user", "Are you there?")
    assert len(stored) == 2  # the greeting and the message: no half reply

    # Over HTTP: 503 with the error envelope, nothing else stored.
    with ThreadServer(create_app(down.settings, down)) as live:
        r = httpx.post(f"{live.url}/api/conversations/{conversation.id}/messages",
                       json={"content": "Hello?", "stream": False}, timeout=60)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "model_unavailable"
    assert [m.role for m in down.store.list_messages(conversation.id)][-2:] == ["user", "user"]
    down.close()

    # With the server back, the conversation carries on where it was.
    up = start_remote(data_dir=data, max_reply_tokens=16)

    async def regenerate() -> list[TurnEvent]:
        return [e async for e in up.chat.regenerate(up.user, conversation.id)]

    finished = asyncio.run(regenerate())[-1]
    assert isinstance(finished, TurnFinished) and finished.message.content
    roles = [m.role for m in up.store.list_messages(conversation.id)]
    assert roles == ["assistant", "user", "user", "assistant"]


def test_server_errors_become_bad_gateway(remote: RemoteModel, backend: BackendServer) -> None:
    wrong_path = RemoteModel(backend.url, remote.vocab, n_ctx=TEST_N_CTX)  # no /v1
    with pytest.raises(ModelServerError, match="404.*ending in /v1"):
        generate(wrong_path, remote.render(MESSAGES))
    # A window larger than the server's: it fails the request, and says so.
    too_big = RemoteModel(backend.url + "/v1", remote.vocab, n_ctx=4 * TEST_N_CTX)
    prompt = remote.render([ChatMessage("user", "hello " * (TEST_N_CTX + 100))])
    with pytest.raises(ModelServerError, match="llm.n_ctx"):
        generate(too_big, prompt)
    assert ModelServerError.status == 502


def test_remote_needs_a_url() -> None:
    with pytest.raises(ValidationError, match="remote_url is empty"):
        load_settings(llm={"backend": "remote"})
    with pytest.raises(ValidationError, match="http://"):
        load_settings(llm={"backend": "remote", "remote_url": "gpu-box:8080"})
    assert load_settings(llm={"backend": "remote", "remote_url": "http://gpu:8080/v1/"}
                         ).llm.remote_url == "http://gpu:8080/v1"
