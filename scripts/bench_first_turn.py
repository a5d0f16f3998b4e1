#!/usr/bin/env python3
"""The first turn of a new conversation with a well-known character, against a warm turn.

In one process on the default model, with memory and its background work on: weeks
of earlier talk with one character are imported first (--memories messages, so recall
has thousands of memories to pack). Then --rounds times: a new conversation starts,
the person reads the greeting and types for --typing seconds, sends a first message,
reads the reply, types again, and sends a second message in the same conversation
(the warm turn). Time to first token is measured from sending, as a person would.

Three ways, taking turns at going first in each round, so machine noise hits all:
  hearth   as shipped, for a client that sends whole messages (the API, SillyTavern):
           the new conversation's start is evaluated while the greeting is read, and
           the first turn's recall is sized to the measured prompt speed
           (memory.first_recall_ms)
  typing   the same, as the web page sends a message: the text so far is prepared
           when typing pauses (`Chat.prepare`, POST .../prepare). Modelled as two
           pauses: two thirds of the words at 60% of the typing time, and the whole
           message 0.5 s before it is sent (read over before pressing Enter)
  before   neither preparation: the first turn evaluates the whole new window, its
           recall filling the free room (what Hearth did before)

Goal (issue 18): the first turn <= 1.5x a warm turn, paired, for "hearth" and "typing".

    python scripts/bench_first_turn.py [--rounds 4] [--typing 5] [--memories 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchkit import Column, Table, greedy_services, print_json

from hearth.chat import ImportItem, ReplyDelta, TurnFinished

DAY = 86400
PAST = [
    "My sister Alba keeps bees in Reykjavik.", "I work night shifts as a nurse.",
    "My cat Miso hates the vacuum cleaner.", "We're going to Lisbon in June.",
    "My dad builds model ships in his garage.", "I'm learning Korean on weekday mornings.",
    "Jonas, my best friend, plays the drums in a jazz trio.", "I ran a 10k race last spring.",
    "I grew tomatoes on the balcony this summer.", "My mum calls every Sunday evening.",
    "I'm reading a long novel about a lighthouse.", "We adopted a second cat, Tofu.",
]
# Each round's two messages are of one kind (about the past, or not), so the first turn
# and the warm turn recall alike.
FIRST = ["Hi! Do you remember what my sister does?", "Hello again! How is your week going?",
         "Hey, do you remember my cat's name?", "Good evening! I'm back from my shift."]
SECOND = ["And what did I tell you about my dad's hobby?", "Tell me something cheerful.",
          "Where are we going in June, do you remember?", "What should I cook tonight?"]


ARMS = ("hearth", "typing", "before")


async def timed(chat, user, conversation_id: int, text: str) -> tuple[float, int, int, float]:  # noqa: ANN001
    """Time to first token of one turn (ms), its prompt tokens, those evaluated, and the
    model's part of the wait (ms: the prompt's evaluation, after the window was packed)."""
    sent = time.perf_counter()
    first = None
    async for event in chat.send(user, conversation_id, text):
        if isinstance(event, ReplyDelta) and first is None:
            first = time.perf_counter()
        elif isinstance(event, TurnFinished):
            usage = event.usage
    return ((first or time.perf_counter()) - sent) * 1000, usage.prompt_tokens, \
        usage.prompt_tokens_evaluated, usage.prompt_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--typing", type=float, default=5.0, help="seconds before each message")
    parser.add_argument("--memories", type=int, default=2000, help="messages of earlier talk")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--reply-tokens", type=int, default=32)
    args = parser.parse_args()

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        services = greedy_services(Path(tmp), n_ctx=args.n_ctx, reply_tokens=args.reply_tokens)
        chat, user = services.chat, services.user
        shipped = chat.context.memory
        prepare_start = chat._prepare_start  # noqa: SLF001 - the "before" arm turns it off

        async def nothing(*_: object) -> None:
            return None

        def arm(name: str) -> None:
            before = name == "before"
            chat.context.memory = (shipped.model_copy(update={"first_recall_ms": 0})
                                   if before else shipped)
            chat._prepare_start = nothing if before else prepare_start  # noqa: SLF001

        async def typed(name: str, conversation_id: int, text: str) -> None:
            """The person types `text` for --typing seconds (the web page's drafts)."""
            if name != "typing":
                await asyncio.sleep(args.typing)
                return
            words = text.split()
            part = " ".join(words[: len(words) * 2 // 3])
            began = time.perf_counter()

            async def until(at: float) -> None:  # seconds into the typing
                await asyncio.sleep(max(0.0, began + at - time.perf_counter()))

            for at, draft in ((args.typing * 0.6, part), (args.typing - 0.5, text)):
                await until(at)
                await chat.prepare(user, conversation_id, draft)
            await until(args.typing)

        async def run() -> None:
            past = chat.start_conversation(user, 1)
            start = time.time() - 60 * DAY
            step = 50 * DAY / args.memories
            chat.import_messages(user, past.id, [
                ImportItem("user" if i % 2 == 0 else "assistant",
                           f"{PAST[(i // 2) % len(PAST)]} (day {int(i * step / DAY) + 1})"
                           if i % 2 == 0 else "Thank you for telling me.",
                           start + i * step) for i in range(args.memories)])
            await services.jobs.join()
            # One ordinary turn first, so the prompt speed is measured as in a running server.
            await timed(chat, user, past.id, "I'm back, and I'm starting a new chat soon.")
            await services.jobs.join()
            for n in range(args.rounds):
                for name in ARMS[n % 3:] + ARMS[: n % 3]:
                    arm(name)
                    conversation = chat.start_conversation(user, 1)
                    # reads the greeting, types
                    await typed(name, conversation.id, FIRST[n % len(FIRST)])
                    first = await timed(chat, user, conversation.id, FIRST[n % len(FIRST)])
                    await services.jobs.join()
                    await typed(name, conversation.id, SECOND[n % len(SECOND)])
                    warm = await timed(chat, user, conversation.id, SECOND[n % len(SECOND)])
                    await services.jobs.join()
                    rows.append({"round": n + 1, "arm": name, "first_ms": first[0],
                                 "first_prompt": first[1], "first_evaluated": first[2],
                                 "first_model_ms": first[3],
                                 "warm_ms": warm[0], "warm_evaluated": warm[2],
                                 "ratio": first[0] / warm[0]})
            await services.jobs.close()

        asyncio.run(run())
        speed = services.model.prompt_speed
        services.close()

    table = Table(Column("round", 5), Column("arm", 6, left=True), Column("first ms", 8, ".0f"),
                  Column("model ms", 8, ".0f"), Column("prompt", 6), Column("eval", 5),
                  Column("warm ms", 8, ".0f"),
                  Column("eval", 5), Column("first/warm", 10, ".2f"))
    print(table.header())  # noqa: T201
    for r in rows:
        print(table.row(r["round"], r["arm"], r["first_ms"], r["first_model_ms"],  # noqa: T201
                        r["first_prompt"],
                        r["first_evaluated"], r["warm_ms"], r["warm_evaluated"], r["ratio"]))
    summary: dict = {"bench": "first_turn", "rounds": args.rounds, "typing_s": args.typing,
                     "memories": args.memories, "prompt_speed_tok_s": speed}
    for name in ARMS:
        mine = [r for r in rows if r["arm"] == name]
        summary[name] = {
            "first_ms_p50": statistics.median(r["first_ms"] for r in mine),
            "warm_ms_p50": statistics.median(r["warm_ms"] for r in mine),
            "first_evaluated_p50": statistics.median(r["first_evaluated"] for r in mine),
            "ratio_paired_p50": statistics.median(r["ratio"] for r in mine),
        }
        s = summary[name]
        print(f"{name:7} first p50 {s['first_ms_p50']:.0f} ms, warm p50 "  # noqa: T201
              f"{s['warm_ms_p50']:.0f} ms, first/warm paired p50 {s['ratio_paired_p50']:.2f}")
    summary["goal_met"] = {name: summary[name]["ratio_paired_p50"] <= 1.5
                           for name in ("hearth", "typing")}
    print_json(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
