#!/usr/bin/env python3
"""Evidence recall of the context window on LoCoMo-format long conversations.

Each conversation is imported through the same code as
`POST /api/conversations/{id}/import` (speaker_a is the user, speaker_b the
character), each session at its own date. Then, for every question of
categories 1-4, the window is built exactly as a real turn would build it, with
the question as the new message, an hour after the last session. Evidence
recall is the share of evidence turns whose text reaches the packed window:
"any" (at least one evidence turn of a question) and "all" (every one).

Three windows, same run, same window size:
  hearth   the context builder: recent turns + hybrid recall (dense + FTS5 + time + neighbours)
  recent   recent turns only, filling the whole window
  dense    recent turns + plain dense top-k from the same index

How the person is named (--person, one or more; each imports the conversations anew):
  speaker  the user record is named after LoCoMo's speaker_a (the default)
  profile  the single-user mode's "User", named only by `PATCH /api/me` {display_name}
  unnamed  "User", never named: what a fresh single-user install knows

--embedder runs the whole benchmark once per embedder named (default: the configured
one; "auto" is settled from the data's language up front), each in a fresh index, and
reports them side by side ("embedder/person").

    python scripts/bench_memory.py --locomo ../shared/data/locomo-dev.json [--window 4096] \
        [--person speaker profile]

Korean: scripts/data/locomo-ko.json is a LoCoMo-format set written for Hearth (see
scripts/data/README.md). Its conversations carry "split" ("dev" or "heldout") and
"language"; the table then adds one row per split, and --split runs only one. Tune on
dev only; the held-out conversation is for the final check.

    python scripts/bench_memory.py --locomo scripts/data/locomo-ko.json [--split dev]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchkit import Column, Table, print_json
from fastapi.testclient import TestClient

from hearth.api.app import create_app

from hearth.characters import normalise_data
from hearth.chat import ImportItem
from hearth.config import load_settings
from hearth.context import ContextBuilder, Window
from hearth.engines.embed import DEFAULT_EMBEDDER, PROFILES
from hearth.memory.embedder_choice import AUTO, MULTILINGUAL_EMBEDDER
from hearth.memory.recall import Recalled
from hearth.services import Services

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
METHODS = ("hearth", "recent", "dense")
PERSONS = ("speaker", "profile", "unnamed")
# The issues' goals in a 4096-token window (any, all), by the conversations' language.
GOALS = {"en": (0.92, 0.85), "ko": (0.90, 0.80)}
# The character is described in the conversation's language, as a user would write it.
DESCRIPTIONS = {"en": "{b} is a close friend of {a}.", "ko": "{b}: {a}의 친한 친구."}


def session_time(text: str) -> float:
    """"1:56 pm on 8 May, 2023" -> epoch seconds (UTC)."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC).timestamp()


def normalise_evidence(ids: list[str]) -> list[str]:
    """Fix the few malformed ids ("D8:6; D9:17", "D:11:26", "D30:05")."""
    out = []
    for raw in ids:
        for part in re.split(r"[;,\s]+", raw):
            m = re.fullmatch(r"D:?(\d+):0*(\d+)", part.strip())
            if m:
                out.append(f"D{m.group(1)}:{m.group(2)}")
    return out


def turns(conversation: dict) -> list[tuple[str, str, str, float]]:
    """(dia_id, speaker, text, said_at) in order; sessions at their dates, turns 30 s apart."""
    sessions = sorted((int(k.split("_")[1]), v) for k, v in conversation.items()
                      if k.startswith("session_") and isinstance(v, list))
    out = []
    for n, session in sessions:
        start = session_time(conversation[f"session_{n}_date_time"])
        for i, turn in enumerate(session):
            text = turn["text"]
            if turn.get("blip_caption"):
                text += f" [shares a photo: {turn['blip_caption']}]"
            out.append((turn["dia_id"], turn["speaker"], text, start + 30 * i))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", type=Path, required=True, help="LoCoMo-format JSON file")
    parser.add_argument("--window", type=int, default=4096, help="context size in tokens")
    parser.add_argument("--reserve", type=int, default=512, help="reply reserve in tokens")
    parser.add_argument("--limit", type=int, default=0, help="only the first N conversations")
    parser.add_argument("--person", nargs="+", choices=PERSONS, default=["speaker"],
                        help="how the person is named (see above); several are run in turn")
    parser.add_argument("--split", help='only the conversations of this split ("dev", "heldout")')
    parser.add_argument("--embedder", nargs="+", choices=list(PROFILES), default=[],
                        help="memory embedder(s) to compare; several are run in turn")
    args = parser.parse_args()
    data = json.loads(args.locomo.read_text(encoding="utf-8"))
    if args.split:
        data = [s for s in data if s.get("split") == args.split]
        if not data:
            parser.error(f"no conversation in {args.locomo} has split {args.split!r}")
    data = data[: args.limit or None]
    languages = {s.get("language", "en") for s in data}
    goal_any, goal_all = GOALS.get(languages.pop() if len(languages) == 1 else "en", GOALS["en"])
    splits = sorted({s["split"] for s in data if "split" in s})
    people: list[str] = list(dict.fromkeys(args.person))
    embedders: list[str] = list(dict.fromkeys(args.embedder)) or [""]
    runs = [(e, p) for e in embedders for p in people]
    # A run's label: the person, or "embedder/person" when embedders are compared.
    persons = [f"{e}/{p}" if args.embedder else p for e, p in runs]

    # Per question: (slices it counts in, any evidence reached, all reached).
    hits: dict[str, dict[str, list[tuple[list[str], bool, bool]]]] = {
        p: {m: [] for m in METHODS} for p in persons}
    memory_tokens: list[int] = []
    build_ms: list[float] = []
    for embedder in embedders:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                data_dir=Path(tmp), llm={"n_ctx": args.window, "max_reply_tokens": args.reserve},
                server={"allowed_hosts": ["testserver"]},  # the in-process client's host name
                memory={"embedder": embedder} if embedder else {},
            )
            if settings.memory.embedder == AUTO:  # what auto settles on for this data, from
                # the start: a switch in the background would land mid-benchmark
                foreign = any(s.get("language", "en") != "en" for s in data)
                settings.memory.embedder = MULTILINGUAL_EMBEDDER if foreign else DEFAULT_EMBEDDER
                print(f"memory.embedder = auto: {settings.memory.embedder}")  # noqa: T201
            services = Services.start(settings)
            api = TestClient(create_app(settings, services))
            api.__enter__()
            chat, memory = services.chat, services.memory
            assert memory is not None
            recent_only = ContextBuilder(
                services.model, reply_reserve=args.reserve,
                memory=settings.memory.model_copy(update={"recent_share": 1.0}),
            )
            for label, person, sample in (
                    (label, p, s) for label, (e, p) in zip(persons, runs, strict=True)
                    if e == embedder for s in data):
                conv = sample["conversation"]
                if person == "speaker":
                    user = services.store.people.ensure(conv["speaker_a"])
                else:  # single-user mode: the API acts as the local "User"
                    user = services.accounts.local_user()
                    name = conv["speaker_a"] if person == "profile" else ""
                    r = api.patch("/api/me", json={"display_name": name})
                    assert r.status_code == 200, r.text
                    user = services.store.people.get(r.json()["id"])
                    assert user.name == "User" and user.shown_name == (name or "User")
                description = DESCRIPTIONS.get(sample.get("language", "en"), DESCRIPTIONS["en"])
                character = services.store.characters.create(data=normalise_data({
                    "name": conv["speaker_b"],
                    "description": description.format(a=conv["speaker_a"], b=conv["speaker_b"]),
                }), avatar=None)
                conversation = chat.start_conversation(user, character.id)
                said = turns(conv)
                ids = chat.import_messages(user, conversation.id, [
                    ImportItem("user" if speaker == conv["speaker_a"] else "assistant", text, at)
                    for _, speaker, text, at in said
                ])
                text_of = {dia: text for dia, _, text, _ in said}
                now = said[-1][3] + 3600
                history = services.store.messages.list(conversation.id)
                owner = {"user_id": user.id, "character_id": character.id}

                def dense(query: str, exclude: set[str], when: datetime,
                          limit: int) -> list[Recalled]:
                    vector = memory.embedder.embed([query], query=True)[0]
                    return [Recalled(h.item.id, h.item.kind, h.item.text, h.item.ts, h.item.role,
                                     h.item.message_ids, h.similarity)
                            for h in memory.index.query(vector, k=200, **owner)  # noqa: B023
                            if h.item.id not in exclude]

                for qa in sample["qa"]:
                    category = qa.get("category")
                    evidence = [text_of[e] for e in normalise_evidence(qa.get("evidence", []))
                                if e in text_of]
                    if category not in CATEGORIES or not evidence:
                        continue
                    question = qa["question"]
                    started = time.perf_counter()
                    window = chat.window(user, conversation.id, question, now=now)
                    build_ms.append((time.perf_counter() - started) * 1000)
                    memory_tokens.append(
                        next(b.tokens for b in window.blocks if b.name == "memories"))
                    turn = chat._turn(user, conversation, history, question, now)
                    windows: dict[str, Window] = {
                        "hearth": window,
                        "recent": recent_only.build(turn),
                        "dense": chat.context.build(turn, recall=dense),
                    }
                    for method, w in windows.items():
                        text = "\n".join(m.content for m in w.messages)
                        found = [e in text for e in evidence]
                        slices = [CATEGORIES[category]]
                        if len(splits) > 1:
                            slices.append(f"split:{sample['split']}")
                        hits[label][method].append((slices, any(found), all(found)))
                print(f"  {label} {sample['sample_id']}: {len(ids)} turns imported",  # noqa: T201
                      flush=True)
            api.__exit__(None, None, None)
            services.close()

    def rate(rows: list[tuple[list[str], bool, bool]], which: int) -> float:
        return sum(r[which] for r in rows) / len(rows) if rows else 0.0

    names = ["overall", *CATEGORIES.values(), *(f"split:{s}" for s in splits if len(splits) > 1)]
    reports: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for person in persons:
        report = reports[person] = {}
        for method in METHODS:
            report[method] = {}
            for name in names:
                rows = [r for r in hits[person][method] if name == "overall" or name in r[0]]
                if rows:
                    report[method][name] = {"any": rate(rows, 1), "all": rate(rows, 2),
                                            "n": len(rows)}

    print(f"\nevidence recall, window {args.window} tokens (reply reserve {args.reserve}), "  # noqa: T201
          f"{len(data)} conversations")
    Table(Column("person", max(8, *map(len, persons)), left=True), Column("method", 8, left=True),
          Column("slice", 14, left=True), Column("n", 4, ".0f"),
          Column("any", 6, ".3f"), Column("all", 6, ".3f")).show(
        (person, method, name, r["n"], r["any"], r["all"])
        for person in persons for method in METHODS
        for name, r in reports[person][method].items())
    print(f"memories block: {statistics.median(memory_tokens):.0f} tokens p50; "  # noqa: T201
          f"window build {statistics.median(build_ms):.0f} ms p50")
    first = reports[persons[0]]
    hearth = first["hearth"]["overall"]

    def rounded(report: dict[str, dict[str, dict[str, float]]]) -> dict:
        return {m: {k: {"any": round(v["any"], 3), "all": round(v["all"], 3), "n": v["n"]}
                    for k, v in report[m].items()} for m in METHODS}

    print_json({
        "bench": "memory", "file": args.locomo.name, "conversations": len(data),
        "split": args.split or "all",
        "window": args.window, "reserve": args.reserve, "person": persons[0],
        "recall": rounded(first),
        "by_person": {p: rounded(reports[p]) for p in persons},
        "memories_tokens_p50": statistics.median(memory_tokens),
        "build_ms_p50": round(statistics.median(build_ms), 1),
        "goal": {"any": goal_any, "all": goal_all},
        "goal_met": hearth["any"] >= goal_any and hearth["all"] >= goal_all,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
