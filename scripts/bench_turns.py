#!/usr/bin/env python3
"""Time to first token over a long conversation: prefix reuse against rebuilding the prompt.

A 60-turn scripted conversation on the default model with memory on (weeks of
earlier talk imported first, so recall has something to find), through the
real turn path (`Chat.send`: recall, packing, storing, the model, background
summaries and facts after each reply, as between a person's messages). The window
is full from about turn 15. Each turn reports its prompt tokens, how many llama.cpp
reused from its cache and evaluated, and the time to first token from the moment
the message is sent; "shift" marks a turn whose full window dropped its oldest
turns (the kept ones moved in llama.cpp's cache, not evaluated again). Then, in the
same run, a sample of the same prompts is evaluated again from an empty cache (no
reuse) to compare.

Goals: time to first token p50 >= 10x faster than the rebuild, and p95 <= 3x p50
(no turn evaluates the whole window again).

    python scripts/bench_turns.py [--turns 60] [--n-ctx 2048] [--rebuild-every 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchkit import Column, Table, greedy_services, print_json

from hearth.chat import ImportItem, ReplyDelta, TurnStarted
from hearth.engines.llm import Prompt, SamplingParams

DAY = 86400
PAST = [
    "My sister Alba lives in Reykjavik and keeps bees.", "I work as a nurse on night shifts.",
    "My cat Miso hates the vacuum cleaner.", "I'm learning Korean on weekday mornings.",
    "We're planning a trip to Lisbon in June.", "My dad builds model ships in his garage.",
    "I ran my first 10k race last spring.", "My best friend Jonas is a jazz drummer.",
]
SCRIPT = [
    "Hi! How are you today?", "I just got back from a long shift.",
    "Do you remember what my sister does?", "I think I'll make soup for dinner.",
    "What kind of soup would you suggest?", "Miso knocked a glass off the table again.",
    "Cats, honestly. Do you like cats?", "I practised Korean for an hour this morning.",
    "Can you teach me a Korean greeting?", "Jonas has a gig on Friday.",
    "Should I go even if I'm tired?", "The weather here is grey and cold.",
    "I miss summer already.", "Tell me something cheerful.", "What are you curious about today?",
    "My dad finished another model ship.", "It's a copy of an old whaling ship.",
    "Do you think hobbies keep people young?", "I might start running again.",
    "What was that race I told you about?", "I'm a bit nervous about Lisbon.",
    "What should we see there first?", "Pastel de nata, of course.",
    "Do you remember where Alba lives?", "She sent me a jar of honey.",
    "It tastes like flowers.", "I had a strange dream last night.", "There was a lighthouse in it.",
    "What do lighthouses mean in dreams?", "Work was calmer tonight.",
    "One patient told me a funny story.", "Thank you for listening to me.",
    "What did I say about my dad's hobby?", "I want to learn to cook Korean food.",
    "Kimchi seems hard to make.", "Maybe I'll try bibimbap first.",
    "Miso is sleeping on my keyboard.", "I should get some rest.", "Good morning again!",
    "I slept well for once.", "Jonas's gig was great, by the way.",
    "He played a long drum solo.", "Do you like jazz?", "What music do you like?",
    "I bought new running shoes.", "They're bright orange.", "Do you think I'm silly?",
    "Lisbon is only a few weeks away now.", "I need to pack light.",
    "Any tips for packing?", "Alba might join us in Lisbon!", "That would be wonderful.",
    "What do you remember about her bees?", "I'm making a list for the trip.",
    "What else should I bring?", "I'm glad I have you to talk to.", "Tell me a short joke.",
    "Ha, that's a good one.", "I have to go to work now.", "Talk to you later!",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--reply-tokens", type=int, default=64)
    parser.add_argument("--rebuild-every", type=int, default=5,
                        help="rebuild every Nth turn's prompt from scratch for the comparison")
    args = parser.parse_args()

    rows: list[dict] = []
    prompts: dict[int, Prompt] = {}
    with tempfile.TemporaryDirectory() as tmp:
        services = greedy_services(Path(tmp), n_ctx=args.n_ctx, reply_tokens=args.reply_tokens)
        chat, user = services.chat, services.user
        past = chat.start_conversation(user, 1)
        start = time.time() - 21 * DAY
        chat.import_messages(user, past.id, [
            ImportItem("user" if i % 2 == 0 else "assistant",
                       PAST[(i // 2) % len(PAST)] if i % 2 == 0 else "Thank you for telling me.",
                       start + i * 3600) for i in range(160)])

        async def converse() -> None:
            # As a client starts it: the new conversation is prepared while the greeting
            # is read (a job on this loop).
            conversation = chat.start_conversation(user, 1)
            await services.jobs.join()
            for n, text in enumerate((SCRIPT * 2)[: args.turns], 1):
                sent = time.perf_counter()
                first = None
                async for event in chat.send(user, conversation.id, text):
                    if isinstance(event, TurnStarted):
                        window = event.window
                    elif isinstance(event, ReplyDelta) and first is None:
                        first = time.perf_counter()
                    elif not isinstance(event, ReplyDelta):
                        usage = event.usage
                ttft = ((first or time.perf_counter()) - sent) * 1000
                rows.append({
                    "turn": n, "prompt": usage.prompt_tokens, "reused": usage.prompt_tokens_reused,
                    "evaluated": usage.prompt_tokens_evaluated, "ttft_ms": round(ttft, 1),
                    "fill": round(usage.prompt_tokens / (args.n_ctx - args.reply_tokens), 2),
                    "rebased": window.rebased, "shifted": window.shifted,
                })
                if n % args.rebuild_every == 0:
                    prompts[n] = window.prompt
                await services.jobs.join()  # the person reads and types: background work runs
            await services.jobs.close()

        asyncio.run(converse())

        # The same prompts from an empty cache: what every turn would cost without reuse.
        llama = services.model.model
        llama.share_prefixes = False  # from an empty cache, not a copy of the last rebuild
        one = SamplingParams(max_tokens=1, temperature=0.0)
        for n, prompt in prompts.items():
            started = time.perf_counter()
            for _ in llama.generate(prompt, one, threading.Event(), session=f"rebuild{n}"):
                pass
            rows[n - 1]["rebuild_ms"] = round((time.perf_counter() - started) * 1000, 1)
        services.close()

    table = Table(Column("turn", 4), Column("fill", 5, ".2f"), Column("prompt", 6),
                  Column("reused", 6), Column("eval", 5), Column("ttft ms", 8, ".0f"),
                  Column("rebuild ms", 10))
    print(table.header())  # noqa: T201
    for r in rows:
        print(table.row(r["turn"], r["fill"], r["prompt"], r["reused"], r["evaluated"],  # noqa: T201
                        r["ttft_ms"], r.get("rebuild_ms", ""))
              + ("  rebase" if r["rebased"] else "") + ("  shift" if r["shifted"] else ""))
    full = [r for r in rows if r["fill"] >= 0.75]
    ttft = [r["ttft_ms"] for r in rows]
    rebuilt = [r for r in rows if "rebuild_ms" in r]
    rebuild_p50 = statistics.median(r["rebuild_ms"] for r in rebuilt)
    paired = [r["rebuild_ms"] / r["ttft_ms"] for r in rebuilt]
    summary = {
        "bench": "turns", "turns": len(rows), "n_ctx": args.n_ctx,
        "ttft_ms_p50": statistics.median(ttft),
        "ttft_ms_p95": statistics.quantiles(ttft, n=20)[-1],
        "ttft_ms_p50_window_full": statistics.median(r["ttft_ms"] for r in full) if full else None,
        "evaluated_p50": statistics.median(r["evaluated"] for r in rows),
        "reused_share_p50": statistics.median(r["reused"] / r["prompt"] for r in rows),
        "rebases": sum(r["rebased"] for r in rows),
        "shifts": sum(r["shifted"] for r in rows),
        "first_full_turn": full[0]["turn"] if full else None,
        "rebuild_ms_p50": rebuild_p50,
        "speedup_p50": round(rebuild_p50 / statistics.median(ttft), 1),
        "speedup_paired_p50": round(statistics.median(paired), 1),
    }
    summary["p95_over_p50"] = round(summary["ttft_ms_p95"] / summary["ttft_ms_p50"], 2)
    summary["goal_met"] = summary["speedup_p50"] >= 10 and summary["p95_over_p50"] <= 3
    print(f"\nttft p50 {summary['ttft_ms_p50']:.0f} ms (window full: "  # noqa: T201
          f"{summary['ttft_ms_p50_window_full']} ms), p95 {summary['ttft_ms_p95']:.0f} ms; "
          f"rebuild p50 {rebuild_p50:.0f} ms; speedup {summary['speedup_p50']}x "
          f"(paired {summary['speedup_paired_p50']}x); p95/p50 {summary['p95_over_p50']}; "
          f"{summary['rebases']} rebases, {summary['shifts']} shifts")
    print_json(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
