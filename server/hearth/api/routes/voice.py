"""The voice WebSocket for LAN clients: `/api/voice?conversation=ID` (protocol in the README).

Client → server: binary frames of PCM16 little-endian mono at 16 kHz (any length up
to `limits.max_ws_frame_bytes`, at most
`limits.max_ws_frames_per_second`), and JSON text frames `{"type": "text", "content"}`,
`{"type": "interrupt"}`, `{"type": "end_of_speech"}` (push-to-talk released).
Server → client: JSON events, and binary frames of reply audio: a 4-byte
little-endian turn id, then PCM16 mono at the `sample_rate` the `ready` event gave.
A bad frame gets an `error` event; the socket stays open. Events are typed
(`hearth.voice.events`) up to this edge; `wire()` gives each its JSON form.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from typing import Any, assert_never

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hearth.api.deps import get_services, get_user
from hearth.api.schemas import Id
from hearth.errors import HearthError
from hearth.services import Services
from hearth.voice.events import (
    Error,
    Interrupted,
    Ready,
    ReplyDelta,
    SpeechStarted,
    SpeechStopped,
    Timings,
    Transcript,
    TurnFinished,
    TurnStarted,
    VoiceEvent,
)
from hearth.voice.session import VoiceSession

log = logging.getLogger(__name__)

router = APIRouter(tags=["voice"])

AUDIO_FRAME_SAMPLES = 8192  # reply audio goes out in pieces of ~0.4 s


class SocketOutput:
    """Sends a session's events and audio; the client plays audio as it arrives."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()  # turns and the receive loop send concurrently
        self.closed = False

    async def event(self, event: VoiceEvent) -> None:
        await self._send(json.dumps(wire(event)))

    async def audio(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        header = struct.pack("<I", turn)
        for start in range(0, len(pcm), AUDIO_FRAME_SAMPLES):
            piece = pcm[start : start + AUDIO_FRAME_SAMPLES].astype("<i2").tobytes()
            if not await self._send(header + piece):
                return

    async def _send(self, data: str | bytes) -> bool:
        """Send unless the client is gone; a turn finishing after a hang-up just stops."""
        async with self._lock:
            if self.closed:
                return False
            try:
                if isinstance(data, str):
                    await self.ws.send_text(data)
                else:
                    await self.ws.send_bytes(data)
            except (WebSocketDisconnect, RuntimeError):  # RuntimeError: sent after the close
                self.closed = True
            return not self.closed

    async def close(self, code: int, reason: str) -> None:
        """Close the socket once no send is under way; later sends are dropped."""
        async with self._lock:
            if not self.closed:
                self.closed = True
                with suppress(WebSocketDisconnect, RuntimeError):  # the client left first
                    await self.ws.close(code=code, reason=reason)

    def cancel(self, turn: int) -> float | None:
        return None  # sent audio cannot be recalled: the `interrupted` event tells the client


def wire(event: VoiceEvent) -> dict[str, Any]:
    """An event as the socket sends it: the JSON the README documents, key for key."""
    match event:
        case Ready(conversation, input_rate, output_rate):
            return {"type": "ready", "conversation": conversation,
                    "input": _pcm16(input_rate), "output": _pcm16(output_rate)}
        case SpeechStarted():
            return {"type": "speech_started"}
        case SpeechStopped():
            return {"type": "speech_stopped"}
        case Transcript(turn, text):
            return {"type": "transcript", "turn": turn, "text": text}
        case TurnStarted(turn, user_message_id, sample_rate):
            return {"type": "turn_started", "turn": turn, "user_message_id": user_message_id,
                    "sample_rate": sample_rate}
        case ReplyDelta(turn, text):
            return {"type": "reply_delta", "turn": turn, "text": text}
        case TurnFinished(turn, message_id, timings):
            return {"type": "turn_finished", "turn": turn, "message_id": message_id,
                    "timings": _timings(timings)}
        case Interrupted(turn, heard, message_id):
            return {"type": "interrupted", "turn": turn, "heard": heard,
                    "message_id": message_id}
        case Error(code, message, turn):
            about = {} if turn is None else {"turn": turn}  # a bad frame is no turn's
            return {"type": "error", **about, "code": code, "message": message}
        case _:
            assert_never(event)


def _pcm16(rate: int) -> dict[str, Any]:
    return {"format": "pcm_s16le", "sample_rate": rate, "channels": 1}


def _timings(timings: Timings) -> dict[str, float]:
    """The stages the turn had, milliseconds to a tenth; token counts as they are."""
    return {stage: round(value, 1) if isinstance(value, float) else value
            for stage, value in asdict(timings).items() if value is not None}


class FrameRate:
    """A token bucket: at most `rate` frames a second on average, bursts of one second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class TooManySockets(HearthError):
    status = 429
    code = "too_many_sockets"


class OpenSockets:
    """How many voice sockets each person has open, against a cap (one per app)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[int, int] = {}

    @contextmanager
    def held(self, user_id: int) -> Iterator[None]:
        if self.open.get(user_id, 0) >= self.limit:
            raise TooManySockets(
                f"you have {self.limit} voice sockets open already "
                "(server.voice_sockets_per_person); end a call first")
        self.open[user_id] = self.open.get(user_id, 0) + 1
        try:
            yield
        finally:
            self.open[user_id] -= 1
            if not self.open[user_id]:
                del self.open[user_id]


@router.websocket("/api/voice")
async def voice(ws: WebSocket, conversation: Id) -> None:
    services = get_services(ws)
    sockets: OpenSockets = ws.app.state.voice_sockets
    await ws.accept()
    output = SocketOutput(ws)
    try:
        user = get_user(ws, services)  # 4401 without a valid token, 4404 for others' ids
        with sockets.held(user.id):  # 4429 past the cap
            session = VoiceSession(services, user, conversation, output)
            try:
                await _serve(ws, services, session, output)
            finally:
                await session.close()  # also when the call failed before it began
    except HearthError as e:
        await output.event(Error(e.code, e.message))
        await ws.close(code=4000 + e.status)


async def _serve(ws: WebSocket, services: Services, session: VoiceSession,
                 output: SocketOutput) -> None:
    """Ready the session, then feed it what the client sends until it hangs up or idles."""
    limits = services.settings.limits
    idle = services.settings.server.voice_idle_seconds
    await asyncio.to_thread(services.transcriber)  # loaded once, before the first turn waits on it
    await output.event(Ready(session.conversation_id, input_rate=session.input_rate,
                             output_rate=session.rate))
    rate = FrameRate(limits.max_ws_frames_per_second)
    try:
        while True:
            try:
                message = await asyncio.wait_for(ws.receive(), idle)
            except TimeoutError:
                if session.turn is not None and session.turn.busy(time.time()):
                    continue  # a reply being made or heard: the client listens, it is not idle
                await output.event(Error("idle", (
                    f"no audio and no message for {idle:g} seconds "
                    "(server.voice_idle_seconds): this socket is closed; connect again to talk")))
                await output.close(4408, f"idle for {idle:g} s")
                break
            if message["type"] == "websocket.disconnect":
                break
            if not rate.allow():
                await _too_fast(output, rate.rate)
            elif message.get("bytes") is not None:
                await _audio(session, output, message["bytes"], limits.max_ws_frame_bytes)
            elif message.get("text") is not None:
                await _control(session, output, message["text"])
    except WebSocketDisconnect:
        pass
    finally:
        output.closed = True
        await session.close()


async def _too_fast(output: SocketOutput, rate: float) -> None:
    await output.event(Error(
        "too_fast",
        f"more than {rate:g} frames a second (limits.max_ws_frames_per_second): "
        "this frame was dropped; send 20-100 ms frames in real time",
    ))


async def _audio(session: VoiceSession, output: SocketOutput, frame: bytes, limit: int) -> None:
    if len(frame) > limit or len(frame) % 2:
        await output.event(Error(
            "bad_audio",
            f"audio frames are PCM16 (an even number of bytes) of at most "
            f"{limit} bytes (limits.max_ws_frame_bytes); this one had {len(frame)}: "
            "send 20-100 ms frames of 16 kHz mono",
        ))
        return
    pcm = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768
    await session.feed(pcm)


async def _control(session: VoiceSession, output: SocketOutput, text: str) -> None:
    try:
        message = json.loads(text)
        kind = message["type"] if isinstance(message, dict) else None
    except (ValueError, KeyError, RecursionError):  # also: numbers too long, nesting too deep
        kind, message = None, None
    if kind == "text" and _is_text(message.get("content")):
        await session.say(message["content"])
    elif kind == "interrupt":
        await session.interrupt()
    elif kind == "end_of_speech":
        await session.end_of_speech()
    else:
        await output.event(Error(
            "bad_message",
            'control messages are JSON objects: {"type": "text", "content": "..."} '
            '(content: words in valid Unicode), {"type": "interrupt"} or '
            '{"type": "end_of_speech"}',
        ))


def _is_text(value: object) -> bool:
    """Words to say: a string, not blank, without half of a UTF-16 pair ("\\ud800" in JSON)."""
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
