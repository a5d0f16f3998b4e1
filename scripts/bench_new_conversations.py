#!/usr/bin/env python3
"""Time to first token of new conversations: from the closest cached state or from empty.

In one process on the default model, --conversations pairs of new conversations with
one character (each a first message through `Chat.send`, with memory and its background
work on, after some imported earlier talk). In each pair one starts from a copy of the
cached state sharing its prompt's longest prefix (`LlamaModel.share_prefixes`), the other
from an empty cache; which goes first alternates, so machine noise hits both alike.
Each reports its prompt tokens, those reused, and the time to first token from sending.
Then the blocks of the first and last prompts (`hearth.context`), how long a prefix
consecutive new conversations' prompts share, and where the first two part.

    python scripts/bench_new_conversations.py [--conversations 6] [--n-ctx 2048]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchkit import Column, Table, greedy_services, print_json

from hearth.chat import ImportItem, ReplyDelta, TurnFinished, TurnStarted
from hearth.engines.llm.kv_slots import shared_prefix

DAY = 86400
PAST = ["My sister Alba keeps bees in Reykjavik.", "I work night shifts as a nurse.",
        "My cat Miso hates the vacuum cleaner.", "We're going to Lisbon in June."]
OPENERS = ["Hi! How are you today?", "I just got back from a long shift.",
           "What should I cook tonight?", "Miso knocked a glass off the table again.",
           "Tell me something cheerful.", "I had a strange dream last night.",
           "Do you like jazz?", "I'm packing for Lisbon."]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=6, help="pairs (on, off)")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--reply-tokens", type=int, default=32)
    args = parser.parse_args()

    rows: list[dict] = []
    prompts: list[list[int]] = []
    blocks: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        services = greedy_services(Path(tmp), n_ctx=args.n_ctx, reply_tokens=args.reply_tokens)
        chat, user, llama = services.chat, services.user, services.model.model
        past = chat.start_conversation(user, 1)
        start = time.time() - 7 * DAY
        chat.import_messages(user, past.id, [
            ImportItem("user" if i % 2 == 0 else "assistant",
                       PAST[(i // 2) % len(PAST)] if i % 2 == 0 else "Thank you for telling me.",
                       start + i * 3600) for i in range(16)])

        async def converse() -> None:
            for n in range(args.conversations):
                for share in (True, False) if n % 2 == 0 else (False, True):
                    llama.share_prefixes = share
                    conversation = chat.start_conversation(user, 1)
                    text = OPENERS[len(rows) % len(OPENERS)]
                    sent = time.perf_counter()
                    first = None
                    async for event in chat.send(user, conversation.id, text):
                        if isinstance(event, TurnStarted):
                            prompts.append(event.window.prompt.tokens)
                            blocks.append(", ".join(f"{b.name} {b.tokens}"
                                                    for b in event.window.blocks if b.tokens))
                        elif isinstance(event, ReplyDelta) and first is None:
                            first = time.perf_counter()
                        elif isinstance(event, TurnFinished):
                            usage = event.usage
                    rows.append({"n": n + 1, "share": share, "prompt": usage.prompt_tokens,
                                 "reused": usage.prompt_tokens_reused,
                                 "ttft_ms": ((first or time.perf_counter()) - sent) * 1000})
                    await services.jobs.join()  # the person reads: background work runs
            await services.jobs.close()

        asyncio.run(converse())
        detok = llama._llama.detokenize  # noqa: SLF001 - only to show where prompts part
        common = [shared_prefix(a, b) for a, b in zip(prompts, prompts[1:], strict=False)]
        n = min(common)
        parted = (detok(prompts[0][max(0, n - 12):n]).decode(errors="replace"),
                  detok(prompts[0][n:n + 12]).decode(errors="replace"))
        services.close()

    table = Table(Column("pair", 4), Column("from", 7, left=True), Column("prompt", 6),
                  Column("reused", 6), Column("ttft ms", 8, ".0f"))
    print(table.header())  # noqa: T201
    for r in rows:
        print(table.row(r["n"], "closest" if r["share"] else "empty", r["prompt"],  # noqa: T201
                        r["reused"], r["ttft_ms"]))
    summary = {}
    for share, name in ((True, "closest"), (False, "empty")):
        ttft = [r["ttft_ms"] for r in rows if r["share"] is share]
        reused = [r["reused"] for r in rows if r["share"] is share]
        summary[name] = {"ttft_ms_p50": statistics.median(ttft), "ttft_ms_max": max(ttft),
                         "reused_p50": statistics.median(reused)}
        print(f"{name:8} ttft p50 {statistics.median(ttft):.0f} ms, max {max(ttft):.0f} ms, "  # noqa: T201
              f"reused p50 {statistics.median(reused):.0f}")
    print(f"first prompt: {blocks[0]}\nlast prompt: {blocks[-1]}")  # noqa: T201
    print(f"consecutive new prompts share {min(common)}-{max(common)} tokens; "  # noqa: T201
          f"they part at ...{parted[0]!r} | {parted[1]!r}...")
    print_json({"rows": rows, "summary": summary, "shared_prefix": common})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
