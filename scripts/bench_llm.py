#!/usr/bin/env python3
"""Streaming overhead of Hearth's HTTP API against llama-cpp-python called directly.

The same prompts, the same model and the same sampling (greedy) go two ways in
one run, alternating so that machine noise hits both alike:

  hearth  POST /api/conversations/{id}/messages (SSE) on a `hearth serve` process
  direct  Llama.create_chat_completion(stream=True) in this process

Time to first token counts from sending the request to the first text; decode
rate is (tokens - 1) / (last token - first token). Prints a table, then one
JSON line. Goal: hearth decode >= 0.95x direct, and < 30 ms added to the first token.

Then, on the same server, back-to-back against idle: in new conversations, a turn
sent the moment the previous reply ends (its memory work — facts, summary — queued
or running on the same model) against a turn sent after --idle-s seconds of quiet,
the two prompts swapping places from pair to pair. Goal: back-to-back first token
<= 1.2x idle (p50s of the same run).

With --remote, the model runs in llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`) instead, and --rounds conversations of --turns
turns each go two ways, turn by turn alternating which goes first:

  hearth  POST /v1/chat/completions (stream) on `hearth serve` with llm.backend = "remote"
  direct  POST /v1/chat/completions (stream) on the backend server, the same history kept
          by a plain client

Each way has its own backend server (same model and settings), so neither evicts
the other's prompt cache. The prompt-cache hit rate of a turn is what the
backend's own log says it reused ("Llama.generate: N prefix-match hit, remaining
M prompt tokens to eval": N / (N + M)). Goal: hearth decode >= 0.95x direct, and
a hit rate >= 0.9 on every turn after the fifth. Background memory work is off
(memory.background = false): on a one-slot server it would evict the cache
between turns (see the README).

    python scripts/bench_llm.py [--rounds 3] [--max-tokens 96] [--model PATH]
    python scripts/bench_llm.py --remote [--rounds 3] [--turns 10] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from benchkit import (
    Column,
    Server,
    Table,
    hearth_server,
    llama_server,
    print_json,
    process_ticks,
    sse_events,
)

from hearth.config import DEFAULT_MODEL
from hearth.context import system_text

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


def run_hearth(client: httpx.Client, character_id: int, prompt: str,
               conversation_id: int | None = None) -> dict:
    if conversation_id is None:
        conversation_id = client.post(
            "/api/conversations", json={"character_id": character_id}).json()["id"]
    url = f"/api/conversations/{conversation_id}/messages"
    start = time.perf_counter()
    times: list[float] = []
    events = []
    with client.stream("POST", url, json={"content": prompt}) as r:
        for event, data in sse_events(r):
            if event == "delta":
                times.append(time.perf_counter())
            events.append((event, data))
        if not times:  # say what came instead (an error event, an empty reply)
            raise RuntimeError(f"no text streamed for {prompt!r}: HTTP {r.status_code}, "
                               f"last events {events[-2:]}")
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


def back_to_back(client: httpx.Client, character_id: int, pairs: int,
                 idle_s: float) -> dict[str, list[dict]]:
    """First tokens of turns sent right after a reply and after `idle_s` of quiet."""
    results: dict[str, list[dict]] = {"idle": [], "back_to_back": []}
    for i in range(pairs):
        conversation_id = client.post(
            "/api/conversations", json={"character_id": character_id}).json()["id"]
        run_hearth(client, character_id, PROMPTS[i % len(PROMPTS)], conversation_id)
        time.sleep(idle_s)
        first, second = PROMPTS[(i + 1) % len(PROMPTS)], PROMPTS[(i + 2) % len(PROMPTS)]
        if i % 2:
            first, second = second, first
        results["idle"].append(run_hearth(client, character_id, first, conversation_id))
        results["back_to_back"].append(run_hearth(client, character_id, second, conversation_id))
    return results


def paired_ttft(results: dict[str, list[dict]]) -> list[float]:
    """What Hearth added to the first token, pair by pair: the same prompt (or turn), the
    same run, back to back."""
    return [h["ttft_ms"] - d["ttft_ms"]
            for h, d in zip(results["hearth"], results["direct"], strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the prompt list")
    parser.add_argument("--max-tokens", type=int, default=96, help="reply length")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="GGUF chat model")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--remote", action="store_true",
                        help="Hearth with a remote backend against that backend directly")
    parser.add_argument("--turns", type=int, default=10, help="turns of the --remote conversation")
    parser.add_argument("--pairs", type=int, default=6, help="back-to-back/idle pairs")
    parser.add_argument("--idle-s", type=float, default=8.0, help="quiet before an idle turn")
    args = parser.parse_args()
    if args.remote:
        return main_remote(args)

    from llama_cpp import Llama

    env = {
        "HEARTH_LLM__TEMPERATURE": "0", "HEARTH_LLM__SEED": "7",
        "HEARTH_LLM__MAX_REPLY_TOKENS": str(args.max_tokens),
    }
    results: dict[str, list[dict]] = {"hearth": [], "direct": []}
    with tempfile.TemporaryDirectory() as tmp, hearth_server(
        Path(tmp) / "data", "--model", str(args.model), "--n-ctx", str(args.n_ctx), env=env
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
        del llama  # the rest is Hearth's alone
        turns = back_to_back(client, character_id, args.pairs, args.idle_s)

    def med(way: str, key: str) -> float:
        return statistics.median(r[key] for r in results[way])

    summary = {
        way: {k: round(med(way, k), 2) for k in ("ttft_ms", "decode_tps", "tokens")}
        for way in results
    }
    ratio = summary["hearth"]["decode_tps"] / summary["direct"]["decode_tps"]
    added = summary["hearth"]["ttft_ms"] - summary["direct"]["ttft_ms"]
    paired = paired_ttft(results)
    Table(Column("path", 8, left=True), Column("ttft ms (p50)", 14, ".1f"),
          Column("decode tok/s (p50)", 19, ".1f"), Column("tokens", 7, ".0f")).show(
        (way, s["ttft_ms"], s["decode_tps"], s["tokens"]) for way, s in summary.items())
    print(f"decode ratio hearth/direct: {ratio:.3f} (goal >= 0.95)")  # noqa: T201
    print(f"added to first token: {added:.1f} ms p50, paired p50 "  # noqa: T201
          f"{statistics.median(paired):.1f} ms (goal < 30 ms)")
    b2b = {way: round(statistics.median(r["ttft_ms"] for r in rs), 1) for way, rs in turns.items()}
    b2b_ratio = b2b["back_to_back"] / b2b["idle"]
    Table(Column("turn", 13, left=True), Column("ttft ms (p50)", 14, ".1f"),
          Column("max", 9, ".1f")).show(
        (way, b2b[way], max(r["ttft_ms"] for r in rs)) for way, rs in turns.items())
    print(f"back-to-back/idle first token: {b2b_ratio:.2f} "  # noqa: T201
          f"({len(turns['idle'])} pairs, {args.idle_s:g} s idle; goal <= 1.2)")
    print_json({
        "bench": "llm", "model": args.model.name, "runs_per_path": len(results["hearth"]),
        "max_tokens": args.max_tokens, "cores": os.cpu_count(), **summary,
        "decode_ratio": round(ratio, 3), "ttft_added_ms": round(added, 1),
        "ttft_added_paired_ms": round(statistics.median(paired), 1),
        "back_to_back_ttft_ms": b2b["back_to_back"], "idle_ttft_ms": b2b["idle"],
        "back_to_back_ratio": round(b2b_ratio, 3),
        "goal_met": ratio >= 0.95 and added < 30 and b2b_ratio <= 1.2,
    })
    return 0


# -- --remote: Hearth in front of an OpenAI-compatible server, against that server directly --

TURNS = [
    "Hi Ember! I just got home from a long walk by the sea.",
    "The wind was so strong that I could barely stand. Have you ever seen a storm at sea?",
    "What do you think makes a storm feel so exciting and scary at the same time?",
    "I found a smooth green stone on the beach. What could I do with it?",
    "Tell me a little story about that stone and where it came from.",
    "That was lovely. What should I cook tonight to warm up after the cold wind?",
    "I have potatoes, leeks and some cheese. Any ideas?",
    "How long should I let the soup simmer?",
    "While it cooks, can you suggest some music for a quiet evening?",
    "Thank you, Ember. What shall we talk about tomorrow?",
    "One more thing: how do I keep my plants happy in winter?",
    "Good night, Ember!",
]


def stream_chat(client: httpx.Client, url: str, body: dict) -> tuple[dict, str, dict]:
    """POST a streamed chat completion; timings, the reply and the last usage seen."""
    start = time.perf_counter()
    times: list[float] = []
    parts: list[str] = []
    usage: dict = {}
    with client.stream("POST", url, json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            chunk = json.loads(line[5:])
            if "error" in chunk:
                raise RuntimeError(f"{url}: {chunk['error']}")
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    times.append(time.perf_counter())
                    parts.append(choice["delta"]["content"])
    return measure(start, times), "".join(parts).strip(), usage


def cache_use(backend: Server, since: int) -> dict:
    """What the backend's log says it did with the prompts of requests after byte `since`."""
    log = backend.log_path.read_text()[since:]
    reused, evaluated = 0, 0
    for hit, left in re.findall(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+)", log):
        reused, evaluated = int(hit), int(left)
    if "full prompt already cached" in log:
        reused, evaluated = reused + evaluated, 0
    if reused == 0:  # no prefix matched: the whole prompt was evaluated
        found = re.findall(r"prompt eval time = .*?/\s*(\d+) tokens", log)
        evaluated = int(found[-1]) if found else 0
    total = reused + evaluated
    return {"reused": reused, "prompt": total, "hit_rate": reused / total if total else 0.0}


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    return process_ticks(pid) * 1000 / os.sysconf("SC_CLK_TCK")


def timed_turn(client: httpx.Client, body: dict, server: Server, hearth_pid: int
               ) -> tuple[dict, str]:
    """One streamed turn, with what the backend's log and the processes' CPU time say of it."""
    since = len(server.log_path.read_text())
    cpu = cpu_ms(hearth_pid), cpu_ms(server.pid)
    timing, reply, usage = stream_chat(client, "/v1/chat/completions", body)
    time.sleep(0.2)  # the server logs its timings after the stream ends
    tokens = max(timing["tokens"], 1)
    return {
        **timing, **cache_use(server, since), "prompt_tokens": usage.get("prompt_tokens"),
        "hearth_cpu_ms_per_token": (cpu_ms(hearth_pid) - cpu[0]) / tokens,
        "backend_cpu_ms_per_token": (cpu_ms(server.pid) - cpu[1]) / tokens,
    }, reply


def main_remote(args: argparse.Namespace) -> int:
    turns = (TURNS * (args.turns // len(TURNS) + 1))[: args.turns]
    results: dict[str, list[dict]] = {"hearth": [], "direct": []}
    sampling = {"max_tokens": args.max_tokens, "temperature": 0.0, "seed": 7, "stream": True,
                "stream_options": {"include_usage": True}}
    env = {
        "HEARTH_LLM__BACKEND": "remote", "HEARTH_LLM__TEMPERATURE": "0", "HEARTH_LLM__SEED": "7",
        "HEARTH_LLM__MAX_REPLY_TOKENS": str(args.max_tokens), "HEARTH_MEMORY__BACKGROUND": "false",
    }
    with tempfile.TemporaryDirectory() as tmp, \
            llama_server(args.model, Path(tmp) / "a.log", args.n_ctx) as backend, \
            llama_server(args.model, Path(tmp) / "b.log", args.n_ctx) as plain, \
            hearth_server(Path(tmp) / "data", "--model", str(args.model), "--n-ctx",
                          str(args.n_ctx),
                          env={**env, "HEARTH_LLM__REMOTE_URL": f"{backend.url}/v1"}) as live, \
            httpx.Client(base_url=live.url, timeout=300) as hearth, \
            httpx.Client(base_url=plain.url, timeout=300) as direct:
        for round_ in range(args.rounds):  # each round a new conversation, both ways
            # A new character too, so that nothing of the last round is recalled.
            character = hearth.post("/api/characters", json=CARD).json()
            history = [{"role": "system", "content": system_text(CARD, user="User")},
                       {"role": "assistant", "content": "Hi User! What shall we talk about?"}]
            for n, text in enumerate(turns, start=1):
                for way in ["hearth", "direct"] if (n + round_) % 2 else ["direct", "hearth"]:
                    if way == "hearth":
                        body = {"model": str(character["id"]), "user": f"bench-{round_}",
                                "messages": [{"role": "user", "content": text}], **sampling}
                        result, _ = timed_turn(hearth, body, backend, live.pid)
                    else:
                        history.append({"role": "user", "content": text})
                        body = {"messages": history, "repeat_penalty": 1.1, **sampling}
                        result, reply = timed_turn(direct, body, plain, live.pid)
                        history.append({"role": "assistant", "content": reply})
                    results[way].append({"round": round_, "turn": n, **result})

    def med(way: str, key: str) -> float:
        return statistics.median(r[key] for r in results[way])

    def per_turn(way: str, key: str) -> list[float]:  # each turn's worst round
        return [min(r[key] for r in results[way] if r["turn"] == n)
                for n in range(1, len(turns) + 1)]

    ratio = med("hearth", "decode_tps") / med("direct", "decode_tps")
    paired = paired_ttft(results)
    late = [r["hit_rate"] for r in results["hearth"] if r["turn"] > 5]
    hearth_cpu = med("hearth", "hearth_cpu_ms_per_token")
    backend_cpu = {way: med(way, "backend_cpu_ms_per_token") for way in results}
    Table(Column("round", 5), Column("turn", 4), Column("way", 7, left=True),
          Column("ttft ms", 8, ".1f"), Column("decode tok/s", 13, ".1f"), Column("tokens", 7),
          Column("prompt", 7), Column("cached", 7), Column("hit", 6, ".2f")).show(
        (r["round"], r["turn"], way, r["ttft_ms"], r["decode_tps"], r["tokens"], r["prompt"],
         r["reused"], r["hit_rate"])
        for h, d in zip(results["hearth"], results["direct"], strict=True)
        for way, r in (("hearth", h), ("direct", d)))
    print(f"decode p50: hearth {med('hearth', 'decode_tps'):.1f} tok/s, direct "  # noqa: T201
          f"{med('direct', 'decode_tps'):.1f} tok/s; ratio {ratio:.3f} "
          f"(overhead {100 * (1 - ratio):.1f} %, goal <= 5 %)")
    print(f"added to first token: paired p50 {statistics.median(paired):.1f} ms")  # noqa: T201
    print(f"CPU per token (p50): hearth process {hearth_cpu:.2f} ms; backend "  # noqa: T201
          f"{backend_cpu['hearth']:.1f} ms via hearth, {backend_cpu['direct']:.1f} ms direct")
    print(f"hearth prompt-cache hit rate after turn 5: min {min(late):.2f}, "  # noqa: T201
          f"p50 {statistics.median(late):.2f} (goal >= 0.90 every turn)")
    print_json({
        "bench": "llm_remote", "backend": "llama_cpp.server", "model": args.model.name,
        "turns": len(turns), "rounds": args.rounds, "max_tokens": args.max_tokens,
        "cores": os.cpu_count(),
        **{way: {"decode_tps": round(med(way, "decode_tps"), 2),
                 "ttft_ms": round(med(way, "ttft_ms"), 1)} for way in results},
        "decode_ratio": round(ratio, 3), "overhead_pct": round(100 * (1 - ratio), 1),
        "ttft_added_paired_ms": round(statistics.median(paired), 1),
        "hearth_cpu_ms_per_token": round(hearth_cpu, 2),
        "backend_cpu_ms_per_token": {way: round(v, 1) for way, v in backend_cpu.items()},
        "hit_rate_per_turn": [round(x, 3) for x in per_turn("hearth", "hit_rate")],
        "direct_hit_rate_per_turn": [round(x, 3) for x in per_turn("direct", "hit_rate")],
        "prompt_tokens_counted_as_backend": all(
            r["prompt_tokens"] == r["prompt"] for r in results["hearth"]),
        "goal_met": ratio >= 0.95 and min(late) >= 0.9,
    })
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
