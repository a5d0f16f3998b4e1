"""Speech out over HTTP: the installed voices, a preview to hear one, and OpenAI's speech API.

`POST /v1/audio/speech` speaks what a listener should hear of `input`, as the voice
loop does (`hearth.voice.speakable`): markdown, emoji, URLs and stage directions
such as `*smiles*` are not read aloud. `voice` is an installed voice, or one of
OpenAI's voice names, which all speak with the default voice so OpenAI clients
work unchanged (an installed voice of the same name wins). The audio streams
while it is made, one sentence at a time, the first as soon as its first clause
is ready.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from hearth.api.deps import ServicesDep
from hearth.api.schemas import SpeechIn, VoiceOut
from hearth.engines.codec import MEDIA_TYPES, StreamEncoder, encode
from hearth.engines.tts import MAX_SPEED, MIN_SPEED
from hearth.errors import InvalidInput, NotFound
from hearth.services import Services
from hearth.voice.speakable import speakable_pieces

router = APIRouter(tags=["speech"])

OPENAI_VOICES = frozenset(
    "alloy ash ballad cedar coral echo fable marin nova onyx sage shimmer verse".split()
)
PCM_RATE = 24_000  # OpenAI's raw pcm
PREVIEW_TEXT = "Hello! This is how I sound. I hope you like it."


@router.get("/api/voices")
def list_voices(services: ServicesDep) -> list[VoiceOut]:
    default = services.choices.default_voice
    return [
        VoiceOut(name=v.name, sample_rate=v.sample_rate, language=v.language, quality=v.quality,
                 speakers=v.speakers, default=v.name == default)
        for v in services.speaker().voices()
    ]


@router.get("/api/voices/{name}/preview", responses={200: {"content": {"audio/wav": {}}}})
def preview_voice(
    services: ServicesDep,
    name: str,
    text: str = Query(PREVIEW_TEXT, description="What to say."),
    speaker: str | None = Query(None, description="Speaker name or id (multi-speaker voices)."),
    speed: float = Query(1.0, ge=MIN_SPEED, le=MAX_SPEED),
) -> Response:
    """A short WAV of the voice, for a "hear it" button: the whole file at once."""
    synthesizer = services.speaker()
    streams = [synthesizer.synthesize(piece, voice=name, speaker=speaker, speed=speed)
               for piece in _pieces(services, text)]
    pcm = np.concatenate([np.zeros(0, np.int16), *(c for s in streams for c in s)])
    return Response(encode(pcm, synthesizer.sample_rate(name), "wav"), media_type="audio/wav")


@router.post(
    "/v1/audio/speech",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def create_speech(services: ServicesDep, body: SpeechIn) -> StreamingResponse:
    """OpenAI-compatible text to speech, streamed in `response_format` (default mp3)."""
    synthesizer = services.speaker()
    voice = _voice(services, body.voice)
    # Every piece is checked now, so a mistake is a 4xx, not a broken stream.
    streams = [synthesizer.synthesize(piece, voice=voice, speed=body.speed)
               for piece in _pieces(services, body.input)]
    encoder = StreamEncoder(
        body.response_format, synthesizer.sample_rate(voice),
        out_rate=PCM_RATE if body.response_format == "pcm" else None,
    )
    return StreamingResponse(_encoded(streams, encoder), media_type=encoder.media_type)


def _pieces(services: Services, text: str) -> list[str]:
    return speakable_pieces(text, max_chars=services.settings.limits.max_speech_chars)


def _voice(services: Services, requested: str) -> str:
    try:
        services.speaker().voice(requested)
        return requested
    except NotFound as e:
        if requested.lower() in OPENAI_VOICES:
            return services.choices.default_voice
        raise InvalidInput(
            f"{e.message}. OpenAI's voice names ({', '.join(sorted(OPENAI_VOICES))}) "
            "speak with the default voice"
        ) from None


def _encoded(streams: list[Iterator[np.ndarray]], encoder: StreamEncoder) -> Iterator[bytes]:
    """Runs in Starlette's threadpool, a sentence per step, so Piper never blocks the loop."""
    for stream in streams:
        for pcm in stream:
            if data := encoder.feed(pcm):
                yield data
    yield encoder.close()
