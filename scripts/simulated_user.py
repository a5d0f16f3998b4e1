"""One simulated person of bench_load.py: their own token, conversation, random stream and
habits; text turns over SSE (some hung up early) and spoken turns over the voice socket,
each recorded as a `Turn` of the running `Phase`."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import websockets
from benchkit import aiter_sse
from spoken import RATE, Utterance, room, send_realtime

VOICE_BUSY_BACKOFF_S = 5.0  # a busy `error` event carries no Retry-After: the HTTP value
TURN_TIMEOUT_S = 300.0  # a turn that takes longer is an error (the server hung)

TEXTS = [
    "Hi! How are you today?", "I just got back from a long shift.",
    "I think I'll make soup for dinner.", "What kind of soup would you suggest?",
    "My cat knocked a glass off the table again.", "Do you like cats?",
    "I practised Korean for an hour this morning.", "My friend has a gig on Friday.",
    "Should I go even if I'm tired?", "The weather here is grey and cold.",
    "Tell me something cheerful.", "What are you curious about today?",
    "My dad finished another model ship.", "I might start running again.",
    "Any tips for packing light?", "Tell me a short joke.", "Thank you for listening.",
    "I had a strange dream last night.", "What music do you like?", "Good morning again!",
]


@dataclass
class Turn:
    """One turn as the client saw it."""

    user: int
    kind: str  # "text" | "voice"
    started: float  # perf_counter at the first attempt
    outcome: str = "pending"  # complete | hung_up | busy_after_ack | error | unheard
    retries: int = 0  # deliberate 503s before it was accepted
    user_message_id: int | None = None
    said: str = ""  # the user's message as the server acknowledged it
    reply_id: int | None = None
    reply: str = ""  # as received (text: the stored reply the server sent back)
    streamed: str = ""  # concatenated deltas
    tokens: int = 0
    ttft_ms: float | None = None  # text: first attempt -> first delta
    total_ms: float | None = None  # text: first attempt -> stored reply
    v2v_ms: float | None = None  # voice: true end of speech -> first reply audio
    evaluated: int | None = None  # prompt tokens evaluated (not reused)
    context_tokens: int = 0  # prompt + reply: what the conversation's KV cache holds after it
    done_at: float = 0.0
    error: str = ""


@dataclass
class Phase:
    name: str
    users: int
    seconds: float
    turns: list[Turn] = field(default_factory=list)
    busy_503: Counter[str] = field(default_factory=Counter)  # deliberate refusals by kind
    missing_retry_after: int = 0
    started: float = 0.0
    ended: float = 0.0


@dataclass
class Person:
    index: int
    name: str
    token: str
    conversation: int = 0
    greeting_id: int | None = None


class User:
    """One person: their own token, conversation, random stream and habits."""

    def __init__(self, person: Person, phase: Phase, http: httpx.AsyncClient, ws_url: str,
                 utterances: list[Utterance], *, voice_share: float, hang_up_share: float,
                 seed: int) -> None:
        self.person = person
        self.phase = phase
        self.http = http
        self.ws_url = ws_url
        self.utterances = utterances
        self.voice_share = voice_share  # share of turns spoken
        self.hang_up_share = hang_up_share  # share of text turns hung up mid-stream
        self.rng = random.Random(seed)
        self.noise = np.random.default_rng(seed)

    async def run(self, deadline: float) -> None:
        await asyncio.sleep(self.rng.uniform(0, 2))  # people don't all start together
        while time.perf_counter() < deadline:
            if self.rng.random() < self.voice_share:
                await self.voice_turn()
            else:
                hang_up = None
                if self.rng.random() < self.hang_up_share:
                    hang_up = self.rng.choice([0, 2, 3, 4, 6])  # deltas read before hanging up
                await self.text_turn(self.rng.choice(TEXTS), hang_up)
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))  # reading, thinking, typing

    # -- text --------------------------------------------------------------------

    async def text_turn(self, content: str, hang_up: int | None) -> None:
        turn = Turn(self.person.index, "text", time.perf_counter())
        self.phase.turns.append(turn)
        url = f"/api/conversations/{self.person.conversation}/messages"
        try:
            while True:
                async with self.http.stream("POST", url, json={"content": content,
                                                               "stream": True}) as r:
                    retry = r.headers.get("retry-after")
                    if r.status_code == 503:
                        await r.aread()
                    elif r.status_code != 200:
                        body = (await r.aread()).decode(errors="replace")[:200]
                        turn.outcome, turn.error = "error", f"HTTP {r.status_code}: {body}"
                        return
                    else:
                        await self._read_text(turn, r, hang_up)
                        return
                # 503: a deliberate refusal; nothing was stored. Back off as told, then retry.
                self.phase.busy_503["text"] += 1
                turn.retries += 1
                if retry is None:
                    self.phase.missing_retry_after += 1
                await asyncio.sleep(float(retry or 5))
        except (httpx.HTTPError, OSError, ValueError) as e:
            turn.outcome, turn.error = "error", f"{type(e).__name__}: {e}"

    async def _read_text(self, turn: Turn, r: httpx.Response, hang_up: int | None) -> None:
        deltas = 0
        async for event, data in aiter_sse(r):
            now = time.perf_counter()
            if event == "start":
                message = data["user_message"]
                turn.user_message_id, turn.said = message["id"], message["content"]
                if hang_up == 0:
                    turn.outcome = "hung_up"
                    return  # leaving the `stream` block closes the connection
            elif event == "delta":
                if turn.ttft_ms is None:
                    turn.ttft_ms = (now - turn.started) * 1000
                turn.streamed += data["text"]
                deltas += 1
                if hang_up is not None and deltas >= hang_up:
                    turn.outcome = "hung_up"
                    return
            elif event == "message":
                turn.total_ms = (now - turn.started) * 1000
                turn.reply_id, turn.reply = data["id"], data["content"]
                usage = data["usage"]
                turn.tokens = usage["completion_tokens"]
                turn.evaluated = usage["prompt_tokens_evaluated"]
                turn.context_tokens = usage["prompt_tokens"] + usage["completion_tokens"]
                turn.done_at = now
                turn.outcome = "complete"
                if turn.reply != turn.streamed.strip():
                    turn.outcome, turn.error = "error", "stored reply differs from the deltas"
                return
            elif event == "error":
                error = data["error"]
                if error["code"] == "busy" and turn.user_message_id is not None:
                    turn.outcome = "busy_after_ack"
                else:
                    turn.outcome = "error"
                turn.error = f"SSE error {error['code']}: {error['message']}"
                return
        turn.outcome, turn.error = "error", "the stream ended without a reply"

    # -- voice -------------------------------------------------------------------

    def room(self, seconds: float) -> np.ndarray:
        return room(self.noise, seconds)

    async def voice_turn(self) -> None:
        utterance = self.rng.choice(self.utterances)
        turn = Turn(self.person.index, "voice", time.perf_counter())
        self.phase.turns.append(turn)
        headers = {"Authorization": f"Bearer {self.person.token}"}
        url = f"{self.ws_url}/api/voice?conversation={self.person.conversation}"
        try:
            while True:
                async with websockets.connect(url, additional_headers=headers, max_size=None,
                                              open_timeout=60) as ws:
                    busy = await self._speak(ws, turn, utterance)
                if not busy:
                    return
                self.phase.busy_503["voice"] += 1
                turn.retries += 1
                await asyncio.sleep(VOICE_BUSY_BACKOFF_S)
        except (OSError, websockets.WebSocketException, ValueError) as e:
            turn.outcome, turn.error = "error", f"{type(e).__name__}: {e}"

    async def _speak(self, ws: Any, turn: Turn, utterance: Utterance) -> bool:
        """One attempt; True when the server refused it as busy before storing anything."""
        ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if ready.get("type") != "ready":
            turn.outcome, turn.error = "error", f"voice socket: {ready}"
            return False
        out_rate = ready["output"]["sample_rate"]
        st: dict[str, Any] = {"turn": None, "first_audio": None, "play_end": 0.0,
                              "done": asyncio.Event(), "busy": False, "first_delta": None}

        async def receive() -> None:
            async for message in ws:
                now = time.perf_counter()
                if isinstance(message, bytes):
                    if st["turn"] is None or int.from_bytes(message[:4], "little") != st["turn"]:
                        continue
                    st["first_audio"] = st["first_audio"] or now
                    seconds = (len(message) - 4) / 2 / out_rate
                    st["play_end"] = max(now, st["play_end"]) + seconds
                    continue
                event = json.loads(message)
                kind = event["type"]
                if kind == "transcript" and st["turn"] is None:
                    st["turn"] = event["turn"]
                    turn.said = event["text"]
                    if not event["text"]:
                        turn.outcome, turn.error = "unheard", "empty transcript"
                        st["done"].set()
                elif kind == "error" and event.get("turn") in (None, st["turn"]):
                    if event.get("code") == "busy" and turn.user_message_id is None:
                        st["busy"] = True
                    elif event.get("code") == "busy":
                        turn.outcome = "busy_after_ack"
                        turn.error = f"voice error busy: {event.get('message')}"
                    else:
                        turn.outcome = "error"
                        turn.error = f"voice error {event.get('code')}: {event.get('message')}"
                    st["done"].set()
                elif event.get("turn") != st["turn"] or st["turn"] is None:
                    continue
                elif kind == "turn_started":
                    turn.user_message_id = event["user_message_id"]
                elif kind == "reply_delta":
                    st["first_delta"] = st["first_delta"] or now
                    turn.streamed += event["text"]
                    turn.tokens += 1
                elif kind == "turn_finished":
                    turn.reply_id = event["message_id"]
                    turn.reply = turn.streamed.strip()
                    timings = event.get("timings", {})
                    if "prompt_tokens" in timings:
                        turn.evaluated = timings["prompt_tokens"] - timings["prompt_tokens_reused"]
                        turn.context_tokens = timings["prompt_tokens"] + turn.tokens
                    turn.done_at = now
                    turn.total_ms = (now - st["true_end"]) * 1000
                    turn.outcome = "complete"
                    st["done"].set()
                elif kind == "interrupted":
                    turn.outcome = "error"
                    turn.error = "voice reply interrupted although the user stayed silent"
                    st["done"].set()

        receiver = asyncio.create_task(receive())

        try:
            spoken = time.perf_counter()
            await send_realtime(ws, utterance.audio + self.room(len(utterance.audio) / RATE))
            st["true_end"] = spoken + utterance.speech_end / RATE
            limit = time.perf_counter() + TURN_TIMEOUT_S
            while not st["done"].is_set() and time.perf_counter() < limit:
                if receiver.done():
                    why = receiver.exception() if not receiver.cancelled() else None
                    raise ValueError(f"the voice socket closed during the turn: {why!r}")
                await send_realtime(ws, self.room(0.1))
            if not st["done"].is_set():
                turn.outcome, turn.error = "error", f"no turn_finished in {TURN_TIMEOUT_S:.0f} s"
            if st["busy"]:
                return True
            if st["first_audio"] is not None:
                turn.v2v_ms = (st["first_audio"] - st["true_end"]) * 1000
            if st["first_delta"] is not None:
                turn.ttft_ms = (st["first_delta"] - st["true_end"]) * 1000
            # Stay on the line, silent, while the reply plays: hanging up earlier is a barge-in.
            while time.perf_counter() < st["play_end"] + 0.5:
                await send_realtime(ws, self.room(0.1))
            return False
        finally:
            receiver.cancel()
