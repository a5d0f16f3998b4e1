#!/usr/bin/env python3
"""Streaming overhead of Hearth's HTTP API against llama-cpp-python called directly.

The same prompts, the same model and the same sampling (greedy) go two ways in
one run, alternating so that machine noise hits both alike:

  hearth  POST /api/conversations/{id}/messages (SSE) on a `hearth serve` process
  direct  Llama.create_chat_completion(stream=True) in this process

Time to first token counts from sending the request to the first text; decode
rate is (tokens - 1) / (last token - first token). Prints a table, then one
JSON line. Goal: hearth decode >= 0.95x direct, and < 30 ms added to the first token.

    python scripts/bench_llm.py [--rounds 3] [--max-tokens 96] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT))

from hearth.config import DEFAULT_MODEL  # noqa: E402
from hearth.context import system_text  # noqa: E402
from tests.utils.live import ProcessServer, sse_events  # noqa: E402

PROMPTS = [
    "Tell me about the best meal you can imagine.",
    "What should I plant in a small balcony garden?",
    "I had a rough day at work. Can you cheer me up?",
    "Describe a walk along the sea on a windy evening.",
    "What is a good way to start learning the piano?",
    "Tell me a short story about a lost umbrella.",
]
CARD = {
    "name": "Ember",
    "description": "{{char}} is a warm, talkative companion who loves long, detailed answers.",
    "personality": "warm, curious, detailed",
    "first_mes": "Hi {{user}}! What shall we talk about?",
}


def run_hearth(client: httpx.Client, character_id: int, prompt: str) -> dict:
    conversation = client.post("/api/conversations", json={"character_id": character_id}).json()
    url = f"/api/conversations/{conversation['id']}/messages"
    start = time.perf_counter()
    times: list[float] = []
    with client.stream("POST", url, json={"content": prompt}) as r:
        for event, _data in sse_events(r):
            if event == "delta":
                times.append(time.perf_counter())
    return measure(start, times)


def run_direct(llama, prompt: str, max_tokens: int) -> dict:  # noqa: ANN001
    messages = [
        {"role": "system", "content": system_text(CARD, user="User")},
        {"role": "assistant", "content": "Hi User! What shall we talk about?"},
        {"role": "user", "content": prompt},
    ]
    start = time.perf_counter()
    times: list[float] = []
    for chunk in llama.create_chat_completion(
        messages=messages, stream=True, max_tokens=max_tokens, temperature=0.0, top_p=0.95,
        repeat_penalty=1.1, seed=7,
    ):
        if chunk["choices"][0]["delta"].get("content"):
            times.append(time.perf_counter())
    return measure(start, times)


def measure(start: float, times: list[float]) -> dict:
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {"ttft_ms": (times[0] - start) * 1000, "tokens": len(times), "decode_tps": decode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the prompt list")
    parser.add_argument("--max-tokens", type=int, default=96, help="reply length")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="GGUF chat model")
    parser.add_argument("--n-ctx", type=int, default=2048)
    args = parser.parse_args()

    from llama_cpp import Llama

    env = {
        "HEARTH_LLM__TEMPERATURE": "0", "HEARTH_LLM__SEED": "7",
        "HEARTH_LLM__MAX_REPLY_TOKENS": str(args.max_tokens),
    }
    results: dict[str, list[dict]] = {"hearth": [], "direct": []}
    with tempfile.TemporaryDirectory() as tmp, ProcessServer(
        Path(tmp), "--model", str(args.model), "--n-ctx", str(args.n_ctx), env=env
    ) as live, httpx.Client(base_url=live.url, timeout=300) as client:
        llama = Llama(model_path=str(args.model), n_ctx=args.n_ctx, verbose=False)
        character_id = client.post("/api/characters", json=CARD).json()["id"]
        # Warm both (first-call allocations, the shared system prompt in each KV cache).
        run_hearth(client, character_id, "Hello!")
        run_direct(llama, "Hello!", args.max_tokens)
        for round_ in range(args.rounds):
            for i, prompt in enumerate(PROMPTS):
                order = ["hearth", "direct"] if (round_ + i) % 2 == 0 else ["direct", "hearth"]
                for way in order:
                    if way == "hearth":
                        results[way].append(run_hearth(client, character_id, prompt))
                    else:
                        results[way].append(run_direct(llama, prompt, args.max_tokens))

    def med(way: str, key: str) -> float:
        return statistics.median(r[key] for r in results[way])

    summary = {
        way: {k: round(med(way, k), 2) for k in ("ttft_ms", "decode_tps", "tokens")}
        for way in results
    }
    ratio = summary["hearth"]["decode_tps"] / summary["direct"]["decode_tps"]
    added = summary["hearth"]["ttft_ms"] - summary["direct"]["ttft_ms"]
    # Paired per prompt: the same prompt, the same run, back to back.
    paired = [h["ttft_ms"] - d["ttft_ms"] for h, d in zip(results["hearth"], results["direct"])]
    print(f"{'path':<8} {'ttft ms (p50)':>14} {'decode tok/s (p50)':>19} {'tokens':>7}")  # noqa: T201
    for way, s in summary.items():
        print(f"{way:<8} {s['ttft_ms']:>14.1f} {s['decode_tps']:>19.1f} {s['tokens']:>7.0f}")  # noqa: T201
    print(f"decode ratio hearth/direct: {ratio:.3f} (goal >= 0.95)")  # noqa: T201
    print(f"added to first token: {added:.1f} ms p50, paired p50 "  # noqa: T201
          f"{statistics.median(paired):.1f} ms (goal < 30 ms)")
    print(json.dumps({  # noqa: T201
        "bench": "llm", "model": args.model.name, "runs_per_path": len(results["hearth"]),
        "max_tokens": args.max_tokens, "cores": os.cpu_count(), **summary,
        "decode_ratio": round(ratio, 3), "ttft_added_ms": round(added, 1),
        "ttft_added_paired_ms": round(statistics.median(paired), 1),
        "goal_met": ratio >= 0.95 and added < 30,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
