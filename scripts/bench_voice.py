#!/usr/bin/env python3
"""Voice-to-voice latency of a spoken conversation through the LAN WebSocket.

A real server (`hearth serve`, default models, memory on) runs in its own process.
This script plays a person: each of 20 utterances, synthesised by Piper with its
natural pauses, is streamed into `/api/voice` in real time as 20 ms frames of
16 kHz PCM, followed by room silence while the reply plays, like a microphone
would. Voice-to-voice is measured by the client, from the true end of speech
(the last voiced sample of the utterance, so the silence window is included) to
the first reply audio received. The server's per-stage timings are reported
beside the same stages run standalone in this process afterwards (speech-to-text
on the same audio, Piper on the same first sentences), and the word error rate
of the server's transcripts.

Goals (2-core CPU, default models): p50 voice-to-voice <= 1.2 s; p50 of voice-to-voice
less the turn's silence window (end of speech -> end of turn detected, `endpoint_ms`)
<= 150 ms: the reply is heard within 150 ms of when the server could know the person
had finished. Turns whose first piece was written and synthesised during the pause
(`ahead_ms` in their timings) are counted.

    python scripts/bench_voice.py [--turns 20] [--port 8765]
"""

from __future__ import annotations

import os

# The standalone speeds are measured in this process: the same BLAS threads as the
# server (hearth/__init__.py), set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets
from benchkit import Column, Table, hearth_server, pct, print_json
from spoken import RATE, Utterance, room, send_realtime, synthesise

from hearth.config import load_settings
from hearth.engines.stt import load_transcriber
from hearth.engines.tts import PiperSynthesizer
from hearth.voice.speakable import SentenceSplitter

SCRIPT = [
    "Hi there, it's me again.",
    "I just got home from work, and I'm really tired.",
    "My sister Alba called me today.",
    "She lives in Iceland, and she keeps bees.",
    "What should I cook for dinner tonight?",
    "I have some rice, a few eggs, and an onion.",
    "That sounds good. Thank you.",
    "My cat is sleeping on the sofa.",
    "Do you like cats?",
    "Tomorrow I have a day off.",
    "I might go for a long walk by the river.",
    "Do you remember where my sister lives?",
    "I want to learn to play the guitar.",
    "Is it hard to learn when you are older?",
    "The weather is cold and grey today.",
    "Tell me something cheerful, please.",
    "My friend Jonas plays the drums in a band.",
    "They have a concert on Friday night.",
    "I think I will go and see them.",
    "Good night, talk to you tomorrow.",
]


@dataclass
class TurnResult:
    text: str
    transcript: str = ""
    voice_to_voice_ms: float | None = None
    timings: dict[str, Any] = field(default_factory=dict)
    reply: str = ""
    interrupted: bool = False


async def converse(url: str, conversation: int, utterances: list[Utterance],
                   timeout: float = 90.0) -> list[TurnResult]:
    results: list[TurnResult] = []
    noise = np.random.default_rng(0)
    async with websockets.connect(f"{url}/api/voice?conversation={conversation}",
                                  max_size=None) as ws:
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        out_rate = ready["output"]["sample_rate"]
        # `played_until`: when the reply's audio ends, played as it comes, gaps included (a
        # piece that comes after the one before has finished starts when it comes).
        state: dict[str, Any] = {"turn": None, "first_audio": None, "played_until": 0.0,
                                 "finished": False, "result": None}

        async def receive() -> None:
            async for message in ws:
                now = time.perf_counter()
                result: TurnResult | None = state["result"]
                if isinstance(message, bytes):
                    if int.from_bytes(message[:4], "little") != state["turn"]:
                        continue
                    state["first_audio"] = state["first_audio"] or now
                    state["played_until"] = (max(now, state["played_until"])
                                             + (len(message) - 4) / 2 / out_rate)
                    continue
                event = json.loads(message)
                kind = event["type"]
                if result is None:
                    continue
                if kind == "transcript" and event["text"] and state["turn"] is None:
                    state["turn"] = event["turn"]
                    result.transcript = event["text"]
                elif event.get("turn") != state["turn"]:
                    continue
                elif kind == "reply_delta":
                    result.reply += event["text"]
                elif kind == "turn_finished":
                    result.timings = event["timings"]
                    state["finished"] = True
                elif kind == "interrupted":
                    result.interrupted = True
                    state["finished"] = True
                elif kind == "error":
                    print("error:", event, file=sys.stderr)  # noqa: T201
                    state["finished"] = True

        receiver = asyncio.create_task(receive())

        for utterance in utterances:
            result = TurnResult(utterance.text)
            state.update(turn=None, first_audio=None, played_until=0.0, finished=False,
                         result=result)
            start = time.perf_counter()
            await send_realtime(ws, utterance.audio + room(noise, len(utterance.audio) / RATE),
                                start)
            true_end = start + utterance.speech_end / RATE
            # Room silence while waiting for, then hearing, the reply.
            clock = time.perf_counter()
            while time.perf_counter() - clock < timeout:
                if state["finished"] and time.perf_counter() > state["played_until"]:
                    break
                await send_realtime(ws, room(noise, 0.1))
            if state["first_audio"] is not None:
                result.voice_to_voice_ms = (state["first_audio"] - true_end) * 1000
            results.append(result)
            nan = float("nan")
            print(f"  {len(results):2d}. v2v {result.voice_to_voice_ms or nan:7.0f} ms"  # noqa: T201
                  f"  silence {result.timings.get('endpoint_ms', nan):5.0f} ms"
                  f"  begun ahead {result.timings.get('ahead_ms', nan):6.0f} ms"
                  f"  heard {result.transcript!r}  reply {result.reply[:40]!r}", flush=True)
            await send_realtime(ws, room(noise, 0.5))
        receiver.cancel()
    return results


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def wer(refs: list[str], hyps: list[str]) -> float:
    errors = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = words(ref), words(hyp)
        row = list(range(len(h) + 1))
        for i, rw in enumerate(r, 1):
            prev, row[0] = row[0], i
            for j, hw in enumerate(h, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
        errors += row[-1]
        total += len(r)
    return errors / max(total, 1)


def standalone(utterances: list[Utterance], replies: list[str]) -> dict[str, list[float]]:
    """The same speech-to-text and first-sentence synthesis, run alone in this process."""
    settings = load_settings()
    stt = load_transcriber(settings.voice)
    tts = PiperSynthesizer(settings.voice.voices_dir)
    voice = settings.voice.default_voice
    stt.transcribe(utterances[0].audio)  # warm-up
    list(tts.synthesize("Hello.", voice=voice))
    out: dict[str, list[float]] = {"stt_ms": [], "tts_first_ms": []}
    for utterance in utterances:
        t = time.perf_counter()
        stt.transcribe(utterance.audio[: utterance.speech_end + RATE // 10])
        out["stt_ms"].append((time.perf_counter() - t) * 1000)
    for reply in replies:
        splitter = SentenceSplitter()
        first = (splitter.feed(reply) + splitter.flush() or [""])[0]
        if first:
            t = time.perf_counter()
            next(iter(tts.synthesize(first, voice=voice)), None)
            out["tts_first_ms"].append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    texts = (SCRIPT * (args.turns // len(SCRIPT) + 1))[: args.turns]

    print("synthesising the speaker's lines with Piper ...", flush=True)  # noqa: T201
    utterances = synthesise(texts)
    with tempfile.TemporaryDirectory() as tmp, \
            hearth_server(Path(tmp) / "data", port=args.port) as server:
        url = server.url
        character = httpx.get(f"{url}/api/characters").json()[0]
        conversation = httpx.post(f"{url}/api/conversations",
                                  json={"character_id": character["id"]}).json()
        print(f"talking with {character['name']} over {len(texts)} turns ...", flush=True)  # noqa: T201
        results = asyncio.run(converse(url.replace("http", "ws"), conversation["id"],
                                       utterances))
    alone = standalone(utterances, [r.reply for r in results])

    v2v = [r.voice_to_voice_ms for r in results if r.voice_to_voice_ms is not None]
    stage = lambda key: [r.timings[key] for r in results if key in r.timings]  # noqa: E731
    # What the server adds after it could know the turn was over.
    after_end = [r.voice_to_voice_ms - r.timings["endpoint_ms"] for r in results
                 if r.voice_to_voice_ms is not None and "endpoint_ms" in r.timings]
    ahead = stage("ahead_ms")
    rows = [
        ("voice-to-voice (client)", v2v, None),
        ("endpoint (silence window)", stage("endpoint_ms"), None),
        ("voice-to-voice - silence window", after_end, None),
        ("first piece ready (begun in pause)", ahead, None),
        ("speech-to-text", stage("stt_ms"), alone["stt_ms"]),
        ("waiting for the transcript", stage("stt_wait_ms"), None),
        ("time to first token", stage("ttft_ms"), None),
        ("first sentence", stage("first_sentence_ms"), None),
        ("first sentence TTS", stage("tts_first_ms"), alone["tts_first_ms"]),
        ("first audio (from reply start)", stage("first_audio_ms"), None),
        ("voice-to-voice (server)", stage("voice_to_voice_ms"), None),
        ("prompt tokens evaluated", [r.timings["prompt_tokens"] - r.timings[
            "prompt_tokens_reused"] for r in results if "prompt_tokens" in r.timings], None),
    ]
    print()  # noqa: T201
    Table(Column("stage", 34, left=True), Column("p50", 8, ".0f"), Column("p95", 8, ".0f"),
          Column("alone p50", 10, ".0f")).show(
        (name, pct(values, 0.5), pct(values, 0.95), pct(single, 0.5) if single else float("nan"))
        for name, values, single in rows)
    error_rate = wer(texts, [r.transcript for r in results])
    print(f"\nword error rate of the transcripts: {error_rate:.3f}; "  # noqa: T201
          f"turns with audio: {len(v2v)}/{len(results)}; begun in the pause: "
          f"{len(ahead)}/{len(results)}; "
          f"goal p50 voice-to-voice <= 1200 ms: {'met' if pct(v2v, 0.5) <= 1200 else 'NOT met'}; "
          f"goal p50 voice-to-voice - silence window <= 150 ms: "
          f"{'met' if pct(after_end, 0.5) <= 150 else 'NOT met'}")
    print_json({
        "bench": "voice", "turns": len(results), "answered": len(v2v),
        "v2v_p50_ms": round(pct(v2v, 0.5)), "v2v_p95_ms": round(pct(v2v, 0.95)),
        "v2v_minus_endpoint_p50_ms": round(pct(after_end, 0.5)),
        "v2v_minus_endpoint_p95_ms": round(pct(after_end, 0.95)),
        "begun_in_pause": len(ahead),
        "stages_p50_ms": {name: round(pct(values, 0.5), 1) for name, values, _ in rows},
        "standalone_p50_ms": {k: round(pct(v, 0.5), 1) for k, v in alone.items()},
        "wer": round(error_rate, 3),
    })


if __name__ == "__main__":
    main()
