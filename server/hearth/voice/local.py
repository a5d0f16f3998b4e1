"""`hearth talk`: a voice conversation through this machine's microphone and speaker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from hearth.store import User
from hearth.voice.devices import Microphone, Speaker
from hearth.voice.events import (
    Error,
    Interrupted,
    ReplyDelta,
    Transcript,
    TurnFinished,
    TurnStarted,
    VoiceEvent,
)
from hearth.voice.session import VoiceServices, VoiceSession


class TerminalOutput:
    """Reply audio to the speaker; what is said, as text, to the terminal."""

    def __init__(self, name: str, speaker: Speaker, write: Callable[..., None]) -> None:
        self.name = name
        self.speaker = speaker
        self.write = write

    async def event(self, event: VoiceEvent) -> None:
        match event:
            case Transcript(text=text) if text:
                self.write(f"You: {text}")
            case TurnStarted():
                self.write(f"{self.name}: ", end="")
            case ReplyDelta(text=text):
                self.write(text, end="")
            case TurnFinished():
                self.write()
            case Interrupted():
                self.write(" [interrupted]")
            case Error(message=message):
                self.write(f"[{message}]")

    async def audio(self, turn: int, pcm: np.ndarray, rate: int) -> None:
        self.speaker.play(turn, pcm, rate)

    def cancel(self, turn: int) -> float | None:
        return self.speaker.cancel(turn)


async def talk(services: VoiceServices, devices: tuple[Microphone, Speaker], user: User,
               conversation_id: int, name: str, write: Callable[..., None]) -> None:
    """Listen until the microphone stops (or Ctrl-C); the last reply is played to its end."""
    microphone, speaker = devices
    session = VoiceSession(services, user, conversation_id,
                           TerminalOutput(name, speaker, write))
    write("Listening. Speak; talk over the reply to interrupt it. Ctrl-C to leave.")
    try:
        async for chunk in microphone.chunks():
            await session.feed(chunk)
        await session.drain()
        while speaker.busy():
            await asyncio.sleep(0.05)
    finally:
        await session.close()
        speaker.close()
