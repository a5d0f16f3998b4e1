"""What a voice conversation tells its client, as typed events.

A `VoiceSession` hands these to its `VoiceOutput`; reply audio travels beside them
(`VoiceOutput.audio`). The socket edge (`hearth.api.routes.voice`) turns each into the
JSON message the README's "Voice WebSocket" section documents; `hearth talk` prints
them. Each class is named for its message's `type`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ready:
    """The socket is open on `conversation`: audio goes in at `input_rate`, comes out at
    `output_rate` (PCM16 mono both ways)."""

    conversation: int
    input_rate: int
    output_rate: int


@dataclass(frozen=True)
class SpeechStarted:
    """The user began to speak (the VAD's view); a reply still playing is interrupted."""


@dataclass(frozen=True)
class SpeechStopped:
    """The user's utterance ended; its turn starts."""


@dataclass(frozen=True)
class Transcript:
    """What the user said in `turn`; an empty text ends the turn (nothing was said)."""

    turn: int
    text: str


@dataclass(frozen=True)
class TurnStarted:
    """The user's words are stored as `user_message_id`; the reply's audio comes at
    `sample_rate`. `user_message_id` is None when the character speaks on its own (a
    message it started, which `TurnFinished.message_id` names)."""

    turn: int
    user_message_id: int | None
    sample_rate: int


@dataclass(frozen=True)
class ReplyDelta:
    """The next piece of the reply's text, as it is generated."""

    turn: int
    text: str


@dataclass(frozen=True)
class Timings:
    """Where a turn's time went, in milliseconds; None for a stage the turn did not have
    (a typed turn has no endpointing, a reply without words no audio)."""

    endpoint_ms: float | None = None  # end of speech → end of turn detected (the silence)
    stt_ms: float | None = None
    stt_wait_ms: float | None = None  # what was left of stt_ms once the turn had ended
    ttft_ms: float | None = None  # this and the next three: from the start of the reply
    first_sentence_ms: float | None = None
    tts_first_ms: float | None = None
    first_audio_ms: float | None = None
    voice_to_voice_ms: float | None = None  # true end of speech → first reply audio sent
    # The reply was begun in the pause (its first piece written and synthesised before
    # the turn ended): true end of speech → that audio was ready. Less than endpoint_ms:
    # it was ready before the turn ended, and played the moment it did.
    ahead_ms: float | None = None
    prompt_tokens: int | None = None
    prompt_tokens_reused: int | None = None


@dataclass(frozen=True)
class TurnFinished:
    """The reply was generated and synthesised, and stored as `message_id`."""

    turn: int
    message_id: int | None
    timings: Timings


@dataclass(frozen=True)
class Interrupted:
    """`turn` was cut short; `heard` is what was kept of its reply, stored as
    `message_id` (None when nothing of it had been stored yet)."""

    turn: int
    heard: str
    message_id: int | None


@dataclass(frozen=True)
class Error:
    """A failed turn (`turn` set) or a bad frame or message from the client (`turn` None)."""

    code: str
    message: str
    turn: int | None = None


VoiceEvent = (
    Ready | SpeechStarted | SpeechStopped | Transcript | TurnStarted | ReplyDelta | TurnFinished
    | Interrupted | Error
)
