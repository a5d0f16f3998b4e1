"""SillyTavern's Text Completion modes against Hearth, through SillyTavern's own server:
its llama.cpp mode (`/completion`), KoboldCpp and vLLM modes (`/v1/completions`), the
status check (`/v1/models`), streamed and not. The prompt is SillyTavern's, continued as
it is; nothing is stored."""

from __future__ import annotations

import json

import pytest

from tests.sillytavern.conftest import Hearth, SillyTavern

PROMPT = ("<|im_start|>system\nWrite Ember's next reply.<|im_end|>\n"
          "<|im_start|>user\nHi Ember!<|im_end|>\n<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def keys(sillytavern: SillyTavern, hearth: Hearth) -> None:
    for secret in ("api_key_llamacpp", "api_key_koboldcpp", "api_key_vllm"):
        sillytavern.set_api_key(hearth.token, secret=secret)


def conversations(hearth: Hearth) -> list[dict]:
    return [(c["id"], c["updated_at"]) for c in hearth.api.get("/api/conversations").json()]


@pytest.mark.parametrize("api_type", ["llamacpp", "koboldcpp", "vllm"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_text_completion_through_sillytavern(sillytavern: SillyTavern, hearth: Hearth,
                                             keys: None, api_type: str, stream: bool) -> None:
    status = sillytavern.post("/api/backends/text-completions/status",
                              {"api_server": hearth.url, "api_type": api_type})
    assert status.status_code == 200, status.text
    assert "ember" in {m["id"] for m in status.json()["data"]}
    before = conversations(hearth)

    # The fields SillyTavern's text-completion settings send, each backend's own names.
    body = {"api_server": hearth.url, "api_type": api_type, "prompt": PROMPT,
            "stream": stream, "temperature": 0.7, "top_p": 1, "top_k": 40, "min_p": 0.05,
            "rep_pen": 1.1, "repeat_penalty": 1.1, "n_predict": 8, "max_tokens": 8,
            "max_new_tokens": 8, "stop": ["\nUser:"], "seed": 1}
    if api_type == "vllm":
        body["model"] = "ember"
    if not stream:
        r = sillytavern.post("/api/backends/text-completions/generate", body)
        assert r.status_code == 200, r.text
        data = r.json()
        assert "error" not in data, data
        text = data["content"] if api_type == "llamacpp" else data["choices"][0]["text"]
    else:
        pieces = []
        with sillytavern.http.stream("POST", "/api/backends/text-completions/generate",
                                     json=body) as r:
            assert r.status_code == 200, r.read().decode()
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                pieces.append(chunk["content"] if api_type == "llamacpp"
                              else chunk["choices"][0]["text"] if chunk.get("choices") else "")
        text = "".join(pieces)
    assert text.strip() and "<|im_start|>" not in text
    assert conversations(hearth) == before, "text completion stores nothing"
