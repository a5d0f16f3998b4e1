"""The voice WebSocket for LAN clients: `/api/voice?conversation=ID` (protocol in the README).

Client → server: binary frames of PCM16 little-endian mono at 16 kHz (any length up
to `MAX_FRAME_BYTES`), and JSON text frames `{"type": "text", "content"}`,
`{"type": "interrupt"}`, `{"type": "end_of_speech"}` (push-to-talk released).
Server → client: JSON events, and binary frames of reply audio: a 4-byte
little-endian turn id, then PCM16 mono at the `sample_rate` the `ready` event gave.
A bad frame gets an `error` event; the socket stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hearth.errors import HearthError
from hearth.voice.session import VoiceSession

log = logging.getLogger(__name__)

router = APIRouter(tags=["voice"])

MAX_FRAME_BYTES = 64 * 1024  # 2 s of 16 kHz PCM16: clients send 20-100 ms frames
AUDIO_FRAME_SAMPLES = 8192  # reply audio goes out in pieces of ~0.4 s


class SocketOutput:
    """Sends a session's events and audio; the client plays audio as it arrives."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()  # turns and the receive loop send concurrently
        self.closed = False

    async def event(self, event: dict[str, Any]) -> None:
        async with self._lock:
            if not self.closed:
                await self.ws.send_text(json.dumps(event))

    async def audio(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        header = struct.pack("<I", turn)
        for start in range(0, len(pcm), AUDIO_FRAME_SAMPLES):
            piece = pcm[start : start + AUDIO_FRAME_SAMPLES].astype("<i2").tobytes()
            async with self._lock:
                if self.closed:
                    return
                await self.ws.send_bytes(header + piece)

    def cancel(self, turn: int) -> float | None:
        return None  # sent audio cannot be recalled: the `interrupted` event tells the client


@router.websocket("/api/voice")
async def voice(ws: WebSocket, conversation: int) -> None:
    services = ws.app.state.services
    await ws.accept()
    output = SocketOutput(ws)
    try:
        session = VoiceSession(services, services.user, conversation, output)
    except HearthError as e:
        await output.event({"type": "error", "code": e.code, "message": e.message})
        await ws.close(code=4000 + e.status)
        return
    await asyncio.to_thread(services.transcriber)  # loaded once, before the first turn waits on it
    await output.event({
        "type": "ready", "conversation": conversation,
        "input": {"format": "pcm_s16le", "sample_rate": 16_000, "channels": 1},
        "output": {"format": "pcm_s16le", "sample_rate": session.rate, "channels": 1},
    })
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await _audio(session, output, message["bytes"])
            elif message.get("text") is not None:
                await _control(session, output, message["text"])
    except WebSocketDisconnect:
        pass
    finally:
        output.closed = True
        await session.close()


async def _audio(session: VoiceSession, output: SocketOutput, frame: bytes) -> None:
    if len(frame) > MAX_FRAME_BYTES or len(frame) % 2:
        await output.event({
            "type": "error", "code": "bad_audio",
            "message": f"audio frames are PCM16 (an even number of bytes) of at most "
                       f"{MAX_FRAME_BYTES} bytes; this one had {len(frame)}: send 20-100 ms "
                       "frames of 16 kHz mono",
        })
        return
    pcm = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768
    await session.feed(pcm)


async def _control(session: VoiceSession, output: SocketOutput, text: str) -> None:
    try:
        message = json.loads(text)
        kind = message["type"] if isinstance(message, dict) else None
    except (ValueError, KeyError):
        kind, message = None, None
    if kind == "text" and isinstance(message.get("content"), str) and message["content"].strip():
        await session.say(message["content"])
    elif kind == "interrupt":
        await session.interrupt()
    elif kind == "end_of_speech":
        await session.end_of_speech()
    else:
        await output.event({
            "type": "error", "code": "bad_message",
            "message": 'control messages are JSON objects: {"type": "text", "content": "..."}, '
                       '{"type": "interrupt"} or {"type": "end_of_speech"}',
        })
