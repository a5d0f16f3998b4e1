#!/usr/bin/env python3
"""Many people at once: text and voice turns from N simulated users against one server.

A real server (`hearth serve`, default models, memory on) runs in its own process on
a temporary data directory, with a household made by the CLI first (`hearth users
init` / `add`): every simulated user talks with their own API token in their own
conversation. Each user, for a fixed time, thinks 1-3 s, then takes a turn:

  text   POST /api/conversations/{id}/messages, streamed (SSE); a share of these
         hang up early, right after `start` (still queued) or after a few deltas,
         to exercise cancellation;
  voice  a Piper-synthesised utterance streamed into /api/voice in real time as 20 ms
         PCM16 frames, then room silence until the reply has played.

A 503 (text: with `Retry-After`; voice: an `error` event with code "busy" before the
turn starts) is a deliberate refusal: the user backs off that long and tries again.
Text latencies count from the first attempt (back-offs included); voice latencies from
the true end of the utterance that was answered (a refused one must be said again).
The run has two phases on the same server: a baseline of 1 user (uncontended
latencies), then N users. At the end every acknowledged message and every received
reply is looked up in the stored conversations (lost = missing or different; a stored
message nobody was told about, such as one refused with a 503, is an error). A hung-up
turn may leave its reply stored as `interrupted` or not at all (README, "How a turn
works"); a stored one must start with what the client received, and how much longer it
is shows how fast generation stopped. The server's resident memory (VmRSS) is sampled
every 5 s; memory is "flat" when it grows by less than 2% of its size at the end of
warm-up (the first 20% of the N-user phase, at least 60 s) by the end, both
between the medians of the first and last three samples after warm-up and along
the least-squares line through all of them, and that line rises by less than
0.2 MiB a minute (so that hours of use stay within bounds too).

Server settings this script sets (environment variables):
  HEARTH_LLM__MAX_REPLY_TOKENS = --reply-tokens (48): short replies, many turns;
  HEARTH_LLM__QUEUE_SIZE       = --queue-size (4): below --users, so the queue bound is
                                  reached and 503s happen (the server's default is 16).

Goal: 8 users for 60 minutes (--seconds 3600) with zero errors other than deliberate
503s, zero lost messages, and resident memory flat after warm-up.

    python scripts/bench_load.py [--users 8] [--seconds 600] [--voice-share 0.25]
                                 [--baseline-seconds 60] [--port P]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from benchkit import Column, Table, hearth_cli, hearth_server, pct, print_json, process_ticks
from simulated_user import TURN_TIMEOUT_S, Person, Phase, Turn, User
from spoken import Utterance, synthesise

RSS_EVERY_S = 5.0
FLAT_SHARE = 0.02  # memory is flat when it grows less than this share after warm-up
FLAT_SLOPE = 0.2  # ... and its fitted line rises less than this many MiB a minute

SPOKEN = [
    "Hi there, it's me again.",
    "What should I cook for dinner tonight?",
    "Do you like cats?",
    "Tell me something cheerful, please.",
    "The weather is cold and grey today.",
    "I might go for a long walk by the river.",
    "Tomorrow I have a day off.",
    "Is it hard to learn the guitar?",
]


# -- the server ------------------------------------------------------------------


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) in MiB: all resident memory, and the part not backed by files."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("RssAnon", float("nan"))


def cpu_jiffies(pid: int) -> tuple[int, int]:
    """(all CPUs busy, this process busy), in clock ticks."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    busy = sum(cpu) - cpu[3] - cpu[4]  # minus idle and iowait
    return busy, process_ticks(pid)


async def sample_rss(pid: int, samples: list[tuple[float, float, float]]) -> None:
    while True:
        samples.append((time.perf_counter(), *rss_mib(pid)))
        await asyncio.sleep(RSS_EVERY_S)


async def new_conversation(http: httpx.AsyncClient, person: Person, character: int) -> None:
    r = await http.post("/api/conversations", json={"character_id": character})
    r.raise_for_status()
    body = r.json()
    person.conversation = body["id"]
    person.greeting_id = body["messages"][0]["id"] if body["messages"] else None


async def run_phase(phase: Phase, people: list[Person], clients: list[httpx.AsyncClient],
                    ws_url: str, utterances: list[Utterance], args: argparse.Namespace,
                    character: int, seed: int) -> None:
    for person, http in zip(people, clients, strict=True):
        await new_conversation(http, person, character)
    phase.started = time.perf_counter()
    deadline = phase.started + phase.seconds
    users = [User(p, phase, c, ws_url, utterances, voice_share=args.voice_share,
                  hang_up_share=args.hang_up_share, seed=seed * 1000 + p.index)
             for p, c in zip(people, clients, strict=True)]
    tasks = [asyncio.create_task(u.run(deadline)) for u in users]
    # Turns running at the deadline are finished (and counted); then stop.
    _, late = await asyncio.wait(tasks, timeout=phase.seconds + TURN_TIMEOUT_S + 60)
    for t in late:
        t.cancel()
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            e = t.exception()
            phase.turns.append(Turn(-1, "?", 0, outcome="error",
                                    error=f"user task failed: {type(e).__name__}: {e}"))
    for turn in phase.turns:
        if turn.outcome == "pending":
            turn.outcome, turn.error = "error", "still running when the phase was stopped"
    phase.ended = time.perf_counter()


async def verify(phase: Phase, people: list[Person], clients: list[httpx.AsyncClient]
                 ) -> dict[str, Any]:
    """Every acknowledged message and received reply stored, as received; nothing else."""
    lost, extra, hung_stored, hung_absent, hung_bad = [], [], 0, 0, []
    by_user: dict[int, list[Turn]] = {}
    for turn in phase.turns:
        by_user.setdefault(turn.user, []).append(turn)
    for person, http in zip(people, clients, strict=True):
        r = await http.get(f"/api/conversations/{person.conversation}/messages")
        r.raise_for_status()
        stored = {m["id"]: m for m in r.json()}
        order = list(stored)
        accounted = {person.greeting_id}
        for turn in by_user.get(person.index, []):
            if turn.user_message_id is None:
                continue  # never acknowledged: refused, failed early, or nothing was heard
            said = stored.get(turn.user_message_id)
            accounted.add(turn.user_message_id)
            if said is None or said["content"] != turn.said:
                lost.append(f"user {person.name}: message {turn.user_message_id} "
                            f"{'missing' if said is None else 'changed'}")
                continue
            if turn.outcome == "complete":
                reply = stored.get(turn.reply_id)
                accounted.add(turn.reply_id)
                if reply is None or reply["content"] != turn.reply:
                    lost.append(f"user {person.name}: reply {turn.reply_id} "
                                f"{'missing' if reply is None else 'changed'}")
            elif turn.outcome == "hung_up":
                after = order.index(turn.user_message_id) + 1
                nxt = stored[order[after]] if after < len(order) else None
                if nxt is None or nxt["role"] != "assistant" or nxt["id"] in accounted:
                    hung_absent += 1
                    continue
                accounted.add(nxt["id"])
                hung_stored += 1
                if nxt["status"] != "interrupted" or not nxt["content"].startswith(
                        turn.streamed.strip()):
                    hung_bad.append(f"reply {nxt['id']} status {nxt['status']}, "
                                    f"{len(nxt['content'])} chars after {len(turn.streamed)}")
                turn.reply = nxt["content"]
        extra += [f"user {person.name}: {m['role']} message {i} ({m['status']}) not acknowledged"
                  for i, m in stored.items() if i not in accounted]
    overrun = [len(t.reply) - len(t.streamed.strip()) for t in phase.turns
               if t.outcome == "hung_up" and t.reply]
    return {"lost": lost, "extra": extra, "hung_up_reply_stored": hung_stored,
            "hung_up_reply_absent": hung_absent, "hung_up_bad": hung_bad,
            "hung_up_overrun_chars_max": max(overrun, default=0)}


# -- report ----------------------------------------------------------------------


def summarise(phase: Phase, check: dict[str, Any]) -> dict[str, Any]:
    turns = phase.turns
    done = [t for t in turns if t.outcome == "complete"]
    text = [t for t in done if t.kind == "text"]
    voice = [t for t in done if t.kind == "voice"]
    wall = max(phase.ended - phase.started, 1e-9)
    errors = [t.error for t in turns if t.outcome in ("error", "busy_after_ack", "unheard")]
    errors += [f"hung-up turn's reply: {b}" for b in check["hung_up_bad"]]
    errors += check["extra"]
    if phase.missing_retry_after:
        errors.append(f"{phase.missing_retry_after} 503 responses without Retry-After")
    per_user = Counter(t.user for t in done)
    counts = [per_user.get(i, 0) for i in range(phase.users)]
    fairness = sum(counts) ** 2 / (len(counts) * sum(c * c for c in counts)) if any(counts) else 0
    metrics = {
        "text_ttft_ms": [t.ttft_ms for t in text],
        "text_total_ms": [t.total_ms for t in text],
        "voice_to_voice_ms": [t.v2v_ms for t in voice],
        "voice_total_ms": [t.total_ms for t in voice],
        "prompt_tokens_evaluated": [t.evaluated for t in done],
    }
    return {
        "users": phase.users, "seconds": round(wall, 1),
        "turns": len(turns), "complete_text": len(text), "complete_voice": len(voice),
        "hung_up": sum(t.outcome == "hung_up" for t in turns),
        "hung_up_reply_stored": check["hung_up_reply_stored"],
        "hung_up_reply_absent": check["hung_up_reply_absent"],
        "hung_up_overrun_chars_max": check["hung_up_overrun_chars_max"],
        "deliberate_503": dict(phase.busy_503),
        "refused_per_turn": {k: round(sum(t.retries for t in turns if t.kind == k)
                                      / max(1, sum(t.kind == k for t in turns)), 2)
                             for k in ("text", "voice")},
        "most_refusals_of_one_turn": max((t.retries for t in turns), default=0),
        "errors": len(errors),
        "error_kinds": dict(Counter(re.sub(r"\d+", "N", e)[:160] for e in errors)),
        "lost": len(check["lost"]), "lost_detail": check["lost"][:10],
        "turns_per_min": round(len(done) / wall * 60, 2),
        "tokens_per_s": round(sum(t.tokens for t in done) / wall, 2),
        "turns_per_user": counts, "fairness": round(fairness, 3),
        **{f"{k}_p50": round(pct(v, 0.5), 1) for k, v in metrics.items()},
        **{f"{k}_p95": round(pct(v, 0.95), 1) for k, v in metrics.items()},
    }


def memory_report(samples: list[tuple[float, float, float]], load_start: float,
                  load_end: float, warmup: float) -> dict[str, Any]:
    load = [(t - load_start, m, a) for t, m, a in samples if load_start <= t <= load_end + 1]
    after = [s for s in load if s[0] >= warmup]
    if len(after) < 2:
        return {"warmup_s": warmup, "samples": len(load), "flat": None}
    xs = np.array([s[0] for s in after]) / 60
    slope = float(np.polyfit(xs, np.array([s[1] for s in after]), 1)[0])
    anon_slope = float(np.polyfit(xs, np.array([s[2] for s in after]), 1)[0])
    # RSS swings by a few MiB within seconds (prompt and audio buffers): each end is
    # the median of three samples, and the fitted line is checked too.
    warm = float(np.median([s[1] for s in after[:3]]))
    end = float(np.median([s[1] for s in after[-3:]]))
    growth, fitted = end - warm, slope * (xs[-1] - xs[0])
    threshold = FLAT_SHARE * warm
    return {
        "before_load_mib": round(load[0][1], 1), "warmup_s": round(warmup),
        "at_warmup_mib": round(warm, 1), "at_end_mib": round(end, 1),
        "peak_mib": round(max(s[1] for s in load), 1), "growth_mib": round(growth, 1),
        "fitted_growth_mib": round(fitted, 1),
        "slope_mib_per_min": round(slope, 2), "samples_after_warmup": len(after),
        "anon_growth_mib": round(float(np.median([s[2] for s in after[-3:]]) - np.median(
            [s[2] for s in after[:3]])), 1),
        "anon_slope_mib_per_min": round(anon_slope, 2),
        "flat_threshold_mib": round(threshold, 1), "flat_slope_mib_per_min": FLAT_SLOPE,
        "flat": bool(growth < threshold and fitted < threshold and slope < FLAT_SLOPE),
        "trace_mib": [[round(s[0]), round(s[1])] for s in load[:: max(1, len(load) // 40)]],
    }


def print_report(base: dict[str, Any], load: dict[str, Any], mem: dict[str, Any],
                 others_cores: float) -> None:
    rows = [("text: time to first token (ms)", "text_ttft_ms"),
            ("text: whole turn (ms)", "text_total_ms"),
            ("voice: voice-to-voice (ms)", "voice_to_voice_ms"),
            ("voice: end of speech -> turn done (ms)", "voice_total_ms"),
            ("prompt tokens evaluated per turn", "prompt_tokens_evaluated")]
    latencies = []
    for name, key in rows:
        b50, b95, l50, l95 = (base[f"{key}_p50"], base[f"{key}_p95"], load[f"{key}_p50"],
                              load[f"{key}_p95"])
        ratio = l50 / b50 if b50 and b50 == b50 else float("nan")
        latencies.append((name, b50, b95, l50, l95, ratio))
    out = print  # noqa: T201 - this script's output is its report
    out()
    Table(Column("latency", 40, left=True), Column("1 user p50", 11, ".0f"),
          Column("p95", 8, ".0f"), Column(f"{load['users']} users p50", 12, ".0f"),
          Column("p95", 8, ".0f"), Column("ratio p50", 10, ".2f")).show(latencies)
    counts = [
        ("turns complete (text + voice)",
         lambda s: f"{s['complete_text']} + {s['complete_voice']}"),
        ("turns per minute", lambda s: f"{s['turns_per_min']:.1f}"),
        ("reply tokens per second", lambda s: f"{s['tokens_per_s']:.1f}"),
        ("deliberate 503s (text / voice)", lambda s: f"{s['deliberate_503'].get('text', 0)} / "
                                                     f"{s['deliberate_503'].get('voice', 0)}"),
        ("503s per turn (text / voice; most for one)",
         lambda s: f"{s['refused_per_turn']['text']} / {s['refused_per_turn']['voice']}; "
                   f"{s['most_refusals_of_one_turn']}"),
        ("hung up (reply stored interrupted / none)",
         lambda s: f"{s['hung_up']} ({s['hung_up_reply_stored']} / {s['hung_up_reply_absent']})"),
        ("errors", lambda s: str(s["errors"])),
        ("lost messages", lambda s: str(s["lost"])),
        ("complete turns per user (fairness)",
         lambda s: f"{min(s['turns_per_user'])}-{max(s['turns_per_user'])} ({s['fairness']})"),
    ]
    out()
    Table(Column("counts", 40, left=True), Column("1 user", 11),
          Column(f"{load['users']} users", 21)).show(
        (name, fmt(base), fmt(load)) for name, fmt in counts)
    for kind, n in {**base["error_kinds"], **load["error_kinds"]}.items():
        out(f"  error x{n}: {kind}")
    if mem.get("flat") is not None:
        out(f"\nserver memory (VmRSS): {mem['before_load_mib']:.0f} MiB before the load, "
            f"{mem['at_warmup_mib']:.0f} MiB after {mem['warmup_s']} s of warm-up, "
            f"{mem['at_end_mib']:.0f} MiB at the end (medians of 3 samples; peak "
            f"{mem['peak_mib']:.0f}): growth {mem['growth_mib']:+.1f} MiB, slope "
            f"{mem['slope_mib_per_min']:+.2f} MiB/min ({mem['fitted_growth_mib']:+.1f} MiB "
            f"over the fitted span); "
            f"flat (< {mem['flat_threshold_mib']:.0f} MiB = {FLAT_SHARE:.0%}, slope "
            f"< {FLAT_SLOPE} MiB/min): "
            f"{'yes' if mem['flat'] else 'NO'} (not file-backed: "
            f"{mem['anon_growth_mib']:+.1f} MiB, {mem['anon_slope_mib_per_min']:+.2f} MiB/min)")
    out(f"other processes used {others_cores:.2f} of {os.cpu_count()} cores on average "
        "during the load phase")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="simulated people at once")
    parser.add_argument("--seconds", type=float, default=600, help="length of the N-user phase")
    parser.add_argument("--baseline-seconds", type=float, default=60,
                        help="length of the 1-user phase before it")
    parser.add_argument("--voice-share", type=float, default=0.25, help="share of voice turns")
    parser.add_argument("--hang-up-share", type=float, default=0.08,
                        help="share of text turns whose client hangs up mid-stream")
    parser.add_argument("--reply-tokens", type=int, default=48,
                        help="HEARTH_LLM__MAX_REPLY_TOKENS for the server")
    parser.add_argument("--queue-size", type=int, default=4,
                        help="HEARTH_LLM__QUEUE_SIZE for the server (its default is 16)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--seed", type=int, default=7, help="seed of every random choice")
    args = parser.parse_args()
    server_env = {"HEARTH_LLM__MAX_REPLY_TOKENS": str(args.reply_tokens),
                  "HEARTH_LLM__QUEUE_SIZE": str(args.queue_size)}
    print(f"server settings: {server_env}", flush=True)  # noqa: T201

    print("synthesising the spoken lines with Piper ...", flush=True)  # noqa: T201
    utterances = synthesise(SPOKEN)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        people = [Person(0, "Owner", hearth_cli("users", "init", "Owner", "--data-dir", str(data)))]
        people += [Person(i, f"user{i}", hearth_cli("users", "add", f"user{i}", "--data-dir",
                                                    str(data))) for i in range(1, args.users)]
        with hearth_server(data, env=server_env, port=args.port,
                           log_path=Path(tmp) / "server.log") as server:
            result = asyncio.run(drive(args, server.url, people, utterances, server.pid))
        server_log = server.log()
    problems = [ln for ln in server_log.splitlines()
                if "Traceback" in ln or " ERROR" in ln or ln.startswith("ERROR")]
    warnings = Counter(re.sub(r"^\S+ \S+ ", "", ln)[:160] for ln in server_log.splitlines()
                       if " WARNING " in ln or ln.startswith("WARNING"))
    result["server_log_errors"] = len(problems)
    result["server_log_warnings"] = dict(warnings)
    for line in problems[:5]:
        print(f"  server log: {line[:200]}")  # noqa: T201
    for line, n in warnings.most_common(5):
        print(f"  server log x{n}: {line}")  # noqa: T201
    load = result["load"]
    result["goal_met"] = (load["errors"] == 0 and load["lost"] == 0 and result["baseline"][
        "errors"] == 0 and result["baseline"]["lost"] == 0 and bool(result["memory"].get("flat"))
        and not problems)
    print(f"goal (no errors but deliberate 503s, nothing lost, memory flat): "  # noqa: T201
          f"{'met' if result['goal_met'] else 'NOT met'}")
    print_json(result)
    return 0


async def drive(args: argparse.Namespace, url: str, people: list[Person],
                utterances: list[Utterance], pid: int) -> dict[str, Any]:
    timeout = httpx.Timeout(TURN_TIMEOUT_S, connect=30)
    clients = [httpx.AsyncClient(base_url=url, timeout=timeout,
                                 headers={"Authorization": f"Bearer {p.token}"}) for p in people]
    samples: list[tuple[float, float, float]] = []
    sampler = asyncio.create_task(sample_rss(pid, samples))
    try:
        character = (await clients[0].get("/api/characters")).json()[0]["id"]
        ws_url = url.replace("http", "ws")
        base = Phase("baseline", 1, args.baseline_seconds)
        print(f"baseline: 1 user for {args.baseline_seconds:.0f} s ...", flush=True)  # noqa: T201
        await run_phase(base, people[:1], clients[:1], ws_url, utterances, args, character,
                        args.seed)
        base_check = await verify(base, people[:1], clients[:1])
        load = Phase("load", args.users, args.seconds)
        print(f"load: {args.users} users for {args.seconds:.0f} s ...", flush=True)  # noqa: T201
        cpu0 = cpu_jiffies(pid), os.times()
        await run_phase(load, people, clients, ws_url, utterances, args, character,
                        args.seed + 1)
        cpu1 = cpu_jiffies(pid), os.times()
        load_check = await verify(load, people, clients)
    finally:
        sampler.cancel()
        for c in clients:
            await c.aclose()
    ticks = os.sysconf("SC_CLK_TCK")
    wall = load.ended - load.started
    mine = (cpu1[1].user + cpu1[1].system) - (cpu0[1].user + cpu0[1].system)
    others = ((cpu1[0][0] - cpu0[0][0]) - (cpu1[0][1] - cpu0[0][1])) / ticks - mine
    warmup = min(max(60.0, 0.2 * args.seconds), args.seconds / 2)
    mem = memory_report(samples, load.started, load.ended, warmup)
    b, s = summarise(base, base_check), summarise(load, load_check)
    print_report(b, s, mem, others / wall)
    return {
        "bench": "load", "users": args.users, "seconds": args.seconds,
        "baseline_seconds": args.baseline_seconds, "voice_share": args.voice_share,
        "hang_up_share": args.hang_up_share, "server_env": {
            "HEARTH_LLM__MAX_REPLY_TOKENS": args.reply_tokens,
            "HEARTH_LLM__QUEUE_SIZE": args.queue_size},
        "cores": os.cpu_count(), "other_processes_cores": round(others / wall, 2),
        "server_cpu_cores": round((cpu1[0][1] - cpu0[0][1]) / ticks / wall, 2),
        "baseline": b, "load": s, "memory": mem,
        "ratio_p50": {k: round(s[f"{k}_p50"] / b[f"{k}_p50"], 2) if b[f"{k}_p50"] else None
                      for k in ("text_ttft_ms", "text_total_ms", "voice_to_voice_ms",
                                "voice_total_ms")},
    }


if __name__ == "__main__":
    raise SystemExit(main())
