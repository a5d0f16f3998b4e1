"""OpenAI-compatible speech to text: `POST /v1/audio/transcriptions`.

Clients written for OpenAI's API work unchanged: any `model` name is served by
the configured Whisper models, and `temperature` is accepted (decoding is greedy,
with Whisper's own fallback when a result looks wrong). The language is the
request's, else the person's profile language, else voice.language; `auto`
detects it with the multilingual model.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.engines import codec
from hearth.engines.stt import Segment, Transcript
from hearth.services import Services

router = APIRouter(prefix="/v1/audio", tags=["audio"])

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]


@router.post(
    "/transcriptions",
    responses={200: {"content": {"application/json": {}, "text/plain": {}, "text/vtt": {}}}},
)
async def create_transcription(
    services: ServicesDep,
    user: CurrentUser,
    file: UploadFile = File(..., description="The recording: wav, flac, mp3, ogg/opus, webm, m4a."),
    model: str = Form("whisper-1", description="Accepted for compatibility; the configured "
                      "model (voice.stt_model) transcribes."),
    language: str | None = Form(None, max_length=35, description="ISO 639-1 code or BCP-47 "
                                "tag ('ko', 'ko-KR'), or 'auto' to detect; unset: the "
                                "person's profile language."),
    prompt: str | None = Form(None, description="Words and spelling to expect."),
    response_format: ResponseFormat = Form("json"),
    temperature: float = Form(0.0, ge=0.0, le=1.0, description="Accepted for compatibility."),
) -> Response:
    """Transcribe an audio file (up to limits.max_audio_seconds long)."""
    data = await file.read()
    language = language or user.language or None
    transcript = await run_in_threadpool(_transcribe, services, data, language, prompt)
    match response_format:
        case "json":
            return JSONResponse({"text": transcript.text})
        case "text":
            return PlainTextResponse(transcript.text)
        case "verbose_json":
            return JSONResponse({
                "task": "transcribe",
                "language": transcript.language,
                "duration": round(transcript.duration, 3),
                "text": transcript.text,
                "segments": [
                    {"id": i, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
                    for i, s in enumerate(transcript.segments)
                ],
            })
        case "srt":
            return PlainTextResponse(srt(transcript.segments))
        case "vtt":
            return PlainTextResponse(vtt(transcript.segments), media_type="text/vtt")


def _transcribe(
    services: Services, data: bytes, language: str | None, prompt: str | None
) -> Transcript:
    """Decoding and the model both block: this runs in a worker thread."""
    audio = codec.decode(data, max_seconds=services.settings.limits.max_audio_seconds)
    return services.transcriber().transcribe(audio, language=language, prompt=prompt)


def _timestamp(seconds: float, decimal: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"{hours:02d}:{minutes:02d}:{ms // 1000:02d}{decimal}{ms % 1000:03d}"


def srt(segments: list[Segment]) -> str:
    return "".join(
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text}\n\n"
        for i, s in enumerate(segments, 1)
    )


def vtt(segments: list[Segment]) -> str:
    return "WEBVTT\n\n" + "".join(
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text}\n\n"
        for s in segments
    )
