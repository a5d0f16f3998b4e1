"""Text completion on a live server, with the real model and greedy decoding: OpenAI's
`/v1/completions` through the official `openai` package, and the native llama.cpp and
KoboldCpp endpoints SillyTavern's text-completion modes call. Nothing is stored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
from openai import OpenAI

from hearth.api.app import create_app
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.services import Services
from tests.api.routes.test_bad_input import assert_error, snapshot
from tests.conftest import TEST_N_CTX, make_settings
from tests.utils.live import ThreadServer

# A prompt the client built with its own template (ChatML, as SmolLM2's): taken as it is.
PROMPT = ("<|im_start|>system\nYou are Ember, a warm companion.<|im_end|>\n"
          "<|im_start|>user\nTell me about the sea.<|im_end|>\n<|im_start|>assistant\n")
N = 24  # tokens to generate: enough to hold a stop string, quick on a busy machine


@dataclass
class Live:
    url: str
    services: Services
    ai: OpenAI  # the official client, with Alice's key
    api: httpx.Client  # plain HTTP with Alice's key


@pytest.fixture(scope="module")
def live(llama: LlamaModel, embedder: MiniLMEmbedder,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = make_settings(tmp_path_factory.mktemp("completions"), {"background": False})
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    _, token = services.accounts.init_owner("Alice")
    with (ThreadServer(create_app(settings, services)) as server,
          OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0, timeout=120) as ai,
          httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                       timeout=120) as api):
        yield Live(server.url, services, ai, api)
    services.close()


@pytest.fixture(scope="module")
def greedy(live: Live) -> tuple[str, ...]:
    """The greedy continuations of PROMPT, N tokens long, non-streamed: as the prompt is
    first evaluated, and with it already in llama.cpp's cache. The two may part after a
    few words: a prompt evaluated in one batch and its last token evaluated alone round
    differently on some CPU builds (a portable AVX2 one here), and greedy decoding
    follows the rounding where two tokens are nearly tied."""
    texts = []
    for _ in range(2):
        done = live.ai.completions.create(model="ember", prompt=PROMPT, max_tokens=N,
                                          temperature=0.0)
        assert done.object == "text_completion" and done.model == "ember"
        assert done.choices[0].finish_reason == "length" and done.usage.completion_tokens == N
        assert done.usage.prompt_tokens == len(live.services.model.render_text(PROMPT).tokens)
        texts.append(done.choices[0].text)
        assert texts[-1].strip() and "<|im_start|>" not in texts[-1]
    assert texts[0].split()[:2] == texts[1].split()[:2]  # the stop tests cut there
    return tuple(texts)


def sse(api: httpx.Client, path: str, body: dict) -> list[str]:
    with api.stream("POST", path, json=body) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), lines
    return [line.removeprefix("data: ") for line in lines]


def test_streamed_equals_whole_and_nothing_is_stored(live: Live,
                                                     greedy: tuple[str, ...]) -> None:
    before = snapshot(live.api)
    stream = live.ai.completions.create(model="ember", prompt=[PROMPT], max_tokens=N,
                                        temperature=0.0, stream=True,
                                        stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "text_completion" and c.id == chunks[0].id for c in chunks)
    pieces = [c.choices[0].text for c in chunks if c.choices and c.choices[0].text]
    assert len(pieces) >= 5, "the text comes piece by piece"
    assert "".join(pieces) in greedy
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "length" and not any(finish[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == N

    data = sse(live.api, "/v1/completions", {"model": "ember", "prompt": PROMPT,
                                             "max_tokens": 2, "stream": True})
    assert data[-1] == "[DONE]" and "usage" not in data[-2]
    assert snapshot(live.api) == before  # no conversation, no message


def test_stop_cuts_and_max_tokens_holds(live: Live, greedy: tuple[str, ...]) -> None:
    text = greedy[0]
    # Stop at the greedy text's second word: the same text, cut just before it.
    words = text.split()
    assert len(words) >= 2, text
    cut = text.index(words[1], len(words[0]))
    for stream in (False, True):
        done = live.ai.completions.create(model="ember", prompt=PROMPT, max_tokens=N,
                                          temperature=0.0, stop=[words[1], "\u2603"],
                                          stream=stream)
        chunks = list(done) if stream else [done]
        said = "".join(c.choices[0].text for c in chunks if c.choices)
        assert said == text[:cut]
        assert chunks[-1].choices[0].finish_reason == "stop"

    short = live.ai.completions.create(model="ember", prompt=PROMPT, max_tokens=3,
                                       temperature=0.0)
    assert short.usage.completion_tokens == 3 and short.choices[0].finish_reason == "length"
    assert text.startswith(short.choices[0].text)


def test_what_does_not_fit_is_refused_not_cut(live: Live) -> None:
    before = snapshot(live.api)
    used = len(live.services.model.render_text(PROMPT).tokens)
    left = TEST_N_CTX - used
    with pytest.raises(openai.UnprocessableEntityError, match=f"leaves {left}"):
        live.ai.completions.create(model="ember", prompt=PROMPT, max_tokens=left + 1)
    done = live.ai.completions.create(model="ember", prompt=PROMPT, max_tokens=left,
                                      stop=["\n", "."], temperature=0.0)
    assert done.usage.total_tokens <= TEST_N_CTX  # a reply up to the window is honoured

    long = "the sea " * TEST_N_CTX
    r = live.api.post("/v1/completions", json={"model": "ember", "prompt": long})
    assert_error(r, 413, "prompt", "shorten")
    r = live.api.post("/completion", json={"prompt": PROMPT, "n_predict": left + 1})
    assert_error(r, 422, "n_predict", f"leaves {left}")
    bad = [({"model": "nobody", "prompt": "Hi"}, 404, "GET /v1/models"),
           ({"model": "ember", "prompt": ["a", "b"]}, 422, "one per request"),
           ({"model": "ember", "prompt": ""}, 422, "empty"),
           ({"model": "ember", "prompt": "Hi", "n": 2}, 422, "n = 1"),
           ({"model": "ember", "prompt": "Hi", "stop": ["x"] * 17}, 422, "stop")]
    for body, status, words in bad:
        assert_error(live.api.post("/v1/completions", json=body), status, words)
    # Text the tokenizer reads as nothing (a fuzzer's "\u0004" was a 500).
    for path, prompt in [("/v1/completions", {"model": "ember", "prompt": "\u0004"}),
                         ("/completion", {"prompt": "\u0004\u0004"}),
                         ("/api/v1/generate", {"prompt": "\u0004"})]:
        for stream in (False, True):
            assert_error(live.api.post(path, json={**prompt, "stream": stream}), 422,
                         "no tokens")
    assert snapshot(live.api) == before


def test_a_key_is_needed(live: Live) -> None:
    stranger = OpenAI(base_url=live.url + "/v1", api_key="sk-not-a-hearth-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="not valid"):
        stranger.completions.create(model="ember", prompt=PROMPT, max_tokens=2)
    for method, path in (("POST", "/v1/completions"), ("POST", "/completion"),
                         ("POST", "/api/v1/generate"), ("GET", "/api/v1/model"),
                         ("GET", "/api/extra/version")):
        r = httpx.request(method, live.url + path, json={"prompt": "Hi"})
        assert_error(r, 401, "sign in")
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_llamacpp_completion(live: Live, greedy: tuple[str, ...]) -> None:
    text = greedy[0]
    body = {"prompt": PROMPT, "n_predict": N, "temperature": 0.0, "seed": -1,
            "cache_prompt": True}  # fields Hearth does not use are ignored
    r = live.api.post("/completion", json=body)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["content"] in greedy and done["stop"] is True
    assert done["tokens_predicted"] == N and done["stopped_limit"] is True
    assert done["model"] == "ember"

    data = [json.loads(d) for d in sse(live.api, "/completion", {**body, "stream": True})]
    assert all(d["stop"] is False for d in data[:-1]) and data[-1]["stop"] is True
    assert "".join(d["content"] for d in data) in greedy

    words = text.split()
    cut = live.api.post("/completion", json={**body, "stop": [words[1]]}).json()
    assert cut["content"] == text[:text.index(words[1], len(words[0]))]
    assert cut["stopped_limit"] is False


def test_koboldcpp_endpoints(live: Live, greedy: tuple[str, ...]) -> None:
    text = greedy[0]
    r = live.api.post("/api/v1/generate", json={
        "prompt": PROMPT, "max_length": N, "temperature": 0.0, "max_context_length": 2048,
        "rep_pen": 1.1})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["text"] in greedy
    words = text.split()
    r = live.api.post("/api/v1/generate", json={
        "prompt": PROMPT, "max_length": N, "temperature": 0.0, "stop_sequence": [words[1]]})
    assert r.json()["results"][0]["text"] == text[:text.index(words[1], len(words[0]))]

    data = [json.loads(d) for d in sse(live.api, "/api/extra/generate/stream", {
        "prompt": PROMPT, "max_length": N, "temperature": 0.0})]
    assert "".join(d["token"] for d in data) in greedy
    assert all(d["finish_reason"] is None for d in data[:-1])
    assert data[-1] == {"token": "", "finish_reason": "length"}
    count = live.api.post("/api/extra/tokencount", json={"prompt": PROMPT}).json()
    assert count == {"value": len(live.services.model.render_text(PROMPT).tokens)}

    first = live.ai.models.list().data[0].id
    assert live.api.get("/api/v1/model").json() == {"result": first}
    version = live.api.get("/api/extra/version").json()
    assert version["result"] == "KoboldCpp" and version["version"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_stops_generation(live: Live, stream: bool) -> None:
    body = {"prompt": "Once upon a time, in a land far away, there lived", "n_predict": -1,
            "temperature": 0.0, "stream": stream}  # -1: the whole window, ~2000 tokens
    used = len(live.services.model.render_text(body["prompt"]).tokens)
    if stream:
        with live.api.stream("POST", "/completion", json=body) as r:
            assert next(r.iter_lines()).startswith("data: ")
    else:
        with pytest.raises(httpx.TimeoutException):
            live.api.post("/completion", json=body, timeout=0.5)
    while not live.services.model.idle:
        time.sleep(0.02)
    # What the KV cache holds is what was generated: far from the window's end.
    assert live.services.model.model._llama.n_tokens < used + (TEST_N_CTX - used) // 2
