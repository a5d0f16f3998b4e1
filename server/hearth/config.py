"""One settings object, read once: defaults < TOML file < HEARTH_* environment < choices
made with `hearth models use` / `hearth voices use` (data_dir/choices.json) < CLI flags.

The TOML file is `./hearth.toml`, or the path in HEARTH_CONFIG (`hearth --config`).
Sections mirror the classes below:

    data_dir = "./data"
    [server]
    port = 8000
    [llm]
    model_path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    n_ctx = 4096

Environment variables use `__` between section and field, e.g.
HEARTH_LLM__N_CTX=2048; the top-level data directory is HEARTH_DATA_DIR.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = PROJECT_ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_EMBEDDER_DIR = MODELS_DIR / "minilm-l6-v2"
MULTILINGUAL_EMBEDDER_DIR = MODELS_DIR / "multilingual-e5-small"
DEFAULT_STT_MODEL = PROJECT_ROOT / "models" / "whisper-tiny.en"
DEFAULT_SMART_TURN_MODEL = PROJECT_ROOT / "models" / "smart-turn-v3.2-cpu.onnx"
DEFAULT_STT_MULTILINGUAL_MODEL = PROJECT_ROOT / "models" / "whisper-base"
DEFAULT_VOICES_DIR = PROJECT_ROOT / "voices"
DEFAULT_VOICE = "en_US-joe-medium"
CHOICES_FILE = "choices.json"  # in data_dir: the model and voice chosen with `hearth ... use`

log = logging.getLogger(__name__)


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address to listen on (127.0.0.1: this box only).")
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the HTTP API.")
    cors_origins: list[str] = Field(
        [], description="Web origins on the LAN allowed to call the API from a browser "
        "(e.g. 'http://192.168.1.20:3000'); empty: none (CORS off)."
    )
    allowed_hosts: list[str] = Field(
        [], description="Extra names the server is reached by (e.g. 'hearth.local'), beside "
        "localhost, its listen address and, on the LAN, this machine's name and addresses; "
        "requests naming any other host are refused (DNS rebinding)."
    )
    timeout_headers: float = Field(
        10.0, ge=1, le=600, description="Seconds a client has to send a request's headers "
        "(from connecting, or from its first byte); then the connection is closed."
    )
    timeout_body: float = Field(
        30.0, ge=1, le=3600, description="Seconds a client has to send a request's whole "
        "body once the server reads it; then 408 and the connection is closed."
    )
    timeout_keep_alive: int = Field(
        5, ge=1, le=600, description="Seconds an idle kept-alive connection stays open."
    )
    voice_idle_seconds: float = Field(
        300.0, ge=1, le=86400, description="A voice WebSocket that sends no audio and no "
        "message for this long is closed (code 4408)."
    )
    voice_sockets_per_person: int = Field(
        4, ge=1, le=1000, description="Voice WebSockets one person may have open at once; "
        "the next is closed with code 4429."
    )
    client_card: Literal["character", "client"] = Field(
        "character", description="Who speaks when an OpenAI-style client sends its own system "
        "prompt or card (SillyTavern does): 'character', Hearth's character card (the client's "
        "system text is set aside, with a note); 'client', the client's system text stands in "
        "for the card for that turn. Hearth's memory of the person is used either way."
    )


class LLMSettings(BaseModel):
    model_path: Path = Field(
        DEFAULT_MODEL, description="GGUF chat model file (with backend 'remote': the same "
        "model's GGUF, read for its tokenizer and chat template only)."
    )
    backend: Literal["local", "remote"] = Field(
        "local", description="'local': llama.cpp in this process; 'remote': an "
        "OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama) at remote_url."
    )
    remote_url: str = Field(
        "", description="Base URL of the remote server's OpenAI API, e.g. "
        "'http://gpu-box:8080/v1' (backend 'remote' only)."
    )
    remote_model: str = Field(
        "", description="Model name sent to the remote server (empty: its default model)."
    )
    remote_api_key: str = Field(
        "", description="Bearer key for the remote server, if it wants one."
    )
    remote_timeout: float = Field(
        300.0, gt=0, le=3600, description="Seconds to wait for the remote server's next "
        "streamed token (a long prompt is evaluated before the first)."
    )
    models_dir: Path = Field(
        DEFAULT_MODEL.parent, description="Where `hearth models add` puts chat models and "
        "`hearth models use NAME` finds them."
    )
    n_ctx: int = Field(4096, ge=256, le=131072, description="Context window in tokens.")
    n_gpu_layers: int = Field(
        0, ge=-1, description="Layers offloaded to the GPU (-1: all, 0: CPU only)."
    )
    n_threads: int | None = Field(
        None, ge=1, le=256,
        description="CPU threads for writing tokens (default: half the cores; prompts are "
                    "evaluated on all of them). More is faster on an idle machine and much "
                    "slower beside other work (on 2 cores, 2 threads: 1.45x faster alone, "
                    "2.6x slower beside one busy process).",
    )
    n_batch: int = Field(512, ge=8, le=8192, description="Prompt tokens evaluated per batch.")
    max_reply_tokens: int = Field(
        256, ge=16, le=8192, description="Reply reserve: tokens kept free for the answer."
    )
    temperature: float = Field(0.8, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling threshold.")
    repeat_penalty: float = Field(1.1, ge=1.0, le=2.0, description="Penalty on repeated tokens.")
    seed: int = Field(-1, description="Sampling seed (-1: random).")
    queue_size: int = Field(
        16, ge=1, le=1024, description="Requests that may wait for the model before 503."
    )
    queue_per_user: int = Field(
        4, ge=1, le=1024, description="Requests one user may have waiting before 503."
    )
    kv_sessions: int = Field(
        4, ge=0, le=256, description="Conversations whose KV cache stays in RAM between "
        "their turns (each reserves one full window's cache when the model loads).",
    )

    @field_validator("model_path", "models_dir")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        return path.expanduser()

    @field_validator("remote_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(f"llm.remote_url {url!r} must start with http:// or https://")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _remote_needs_url(self) -> LLMSettings:
        if self.backend == "remote" and not self.remote_url:
            raise ValueError("llm.backend is 'remote' but llm.remote_url is empty: set it to "
                             "the server's OpenAI base URL, e.g. http://gpu-box:8080/v1")
        return self


class MemorySettings(BaseModel):
    embedder: Literal["auto", "multilingual-e5-small", "all-MiniLM-L6-v2"] = Field(
        "auto", description="Sentence embedder for recall. auto: all-MiniLM-L6-v2 (English "
        "only, better and ~2x faster on English) until a person's or a character's language "
        "is not English or most recent messages are in other scripts, then "
        "multilingual-e5-small (about 100 languages), switched to by itself. A name forces "
        "that embedder; changing it rebuilds the memory index at the next start."
    )
    embedder_dir: Path | None = Field(
        None, description="Folder with the embedder's model.onnx + tokenizer.json (with an "
        "embedder named, not auto); empty: its folder under models/."
    )
    enabled: bool = Field(True, description="Long-term memory: recall, summaries, facts.")
    recent_share: float = Field(
        0.1, ge=0.0, le=1.0, description="Share of the free window kept for recent turns when a "
        "conversation's window is first packed (recall fills the rest)."
    )
    shift_share: float = Field(
        0.6, ge=0.0, le=1.0, description="Share of the free window the recent turns keep when "
        "a full window drops its oldest turns (the rest stay in llama.cpp's cache, moved)."
    )
    profile_tokens: int = Field(256, ge=0, description="Budget of the user-profile facts block.")
    summary_tokens: int = Field(256, ge=0, description="Budget of the rolling summary block.")
    turn_recall_tokens: int = Field(
        64, ge=0, description="Budget of memories newly recalled on an ordinary turn."
    )
    first_recall_ms: int = Field(
        250, ge=0, description="A new conversation's first turn recalls what the model "
        "evaluates in this long at its measured prompt speed (at least turn_recall_tokens; "
        "later turns add more). 0: it fills the window's free room, however long that takes."
    )
    lorebook_tokens: int = Field(256, ge=0, description="Budget of triggered lorebook entries.")
    recall_candidates: int = Field(
        150, ge=1, le=1000, description="Candidates fetched from each retriever before fusion."
    )
    background: bool = Field(
        True, description="Write summaries and extract facts with the chat model after replies."
    )
    chroma_url: str = Field(
        "", description="A Chroma server to keep the memory index in, e.g. "
        "'http://nas:8001' (`chroma run`); empty: embedded, under data_dir."
    )
    chroma_database: str = Field(
        "hearth", min_length=3, max_length=63, description="Database on the Chroma server; "
        "each Hearth sharing one server needs its own (created on first use)."
    )
    lorebook_regex_ms: int = Field(
        250, ge=10, le=10_000, description="Time one lorebook regex key may search a turn's "
        "text; a key that takes longer is turned off for its character until the lorebook "
        "is edited (a card's runaway pattern)."
    )

    @field_validator("embedder_dir")
    @classmethod
    def _expand(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @model_validator(mode="after")
    def _dir_names_one_embedder(self) -> MemorySettings:
        if self.embedder == "auto" and self.embedder_dir is not None:
            raise ValueError("memory.embedder_dir holds one model: set memory.embedder to its "
                             "name (all-MiniLM-L6-v2 or multilingual-e5-small), or unset the dir")
        return self

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url(cls, url: str) -> str:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(f"memory.chroma_url {url!r} must start with http:// or https://")
        return url.rstrip("/")


class VoiceSettings(BaseModel):
    stt_model: str = Field(
        str(DEFAULT_STT_MODEL),
        description="faster-whisper model: a local folder (CTranslate2) or a size name such as "
        "'base' (downloaded once, needs internet).",
    )
    stt_multilingual_model: str | None = Field(
        str(DEFAULT_STT_MULTILINGUAL_MODEL),
        description="faster-whisper model for the languages stt_model does not know (when it "
        "is English-only) and for detecting the language; unset or missing: English only.",
    )
    language: str | None = Field(
        None, description="Spoken language ('en', 'ko', ...) when neither the request nor the "
        "person's profile gives one; unset: what stt_model assumes (tiny.en: English).",
    )
    stt_device: str = Field("auto", description="'cpu', 'cuda' or 'auto'.")
    stt_compute_type: str = Field(
        "default", description="CTranslate2 compute type (default: int8 on CPU, float16 on GPU)."
    )
    voices_dir: Path = Field(DEFAULT_VOICES_DIR, description="Piper voices (.onnx + .onnx.json).")
    default_voice: str = Field(DEFAULT_VOICE, description="Voice of characters that name none.")
    vad_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Silero speech probability that counts as speech."
    )
    silence_ms: int = Field(
        400, ge=50, le=5000, description="Silence that ends the user's turn (endpointing): "
        "always with end_of_turn 'fixed'; with 'text', when the words do not tell."
    )
    end_of_turn: Literal["smart", "text", "fixed"] = Field(
        "smart", description="'smart': each pause is transcribed and heard by Smart Turn v3 "
        "(smart_turn_model); the turn ends after end_of_turn_short_ms when the words and the "
        "voice both sound finished, else after end_of_turn_long_ms. 'text': the words alone "
        "choose (short after a finished sentence, long after 'and', 'to the', 'um'..., "
        "silence_ms when they do not tell). 'fixed': always silence_ms. 'smart' without its "
        "model works as 'text'."
    )
    smart_turn_model: Path = Field(
        DEFAULT_SMART_TURN_MODEL, description="Smart Turn v3 ONNX model (end_of_turn 'smart')."
    )
    begin_in_pause: bool = Field(
        True, description="While the person pauses, also write the reply's first speakable "
        "piece and synthesise it (stored nowhere; dropped if they go on), so it plays the "
        "moment the pause ends the turn. Off, the pause only evaluates the prompt."
    )
    end_of_turn_short_ms: int = Field(
        200, ge=50, le=5000, description="Silence that ends a turn whose words are finished."
    )
    end_of_turn_long_ms: int = Field(
        1000, ge=50, le=5000, description="Silence that ends a turn whose words lead on; "
        "also the wait while a pause is still being read."
    )
    min_speech_ms: int = Field(
        200, ge=0, le=5000, description="Shorter bursts of speech are ignored (coughs, clicks)."
    )

    @field_validator("voices_dir", "smart_turn_model")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        return path.expanduser()


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted."
    )
    max_card_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest character card file (PNG or JSON)."
    )
    max_image_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest avatar image.")
    max_message_chars: int = Field(
        16_000, ge=1, description="Longest chat message, in characters."
    )
    max_audio_seconds: float = Field(
        300.0, gt=0, description="Longest audio accepted for transcription, in seconds."
    )
    max_speech_chars: int = Field(
        4096, ge=1, description="Longest text accepted for speech synthesis, in characters."
    )
    max_ws_frame_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest voice WebSocket frame (64 KiB: 2 s of audio)."
    )
    max_ws_frames_per_second: float = Field(
        1000.0, gt=0, description="Voice WebSocket frames a second (recorded audio may come "
        "faster than real time); frames beyond it are dropped."
    )
    max_image_side: int = Field(
        4096, ge=16, le=65535, description="Widest or tallest avatar in pixels (read from the "
        "PNG header before anything decodes it: a small file can hold a huge image)."
    )


class WyomingSettings(BaseModel):
    enabled: bool = Field(
        False, description="Serve speech-to-text and text-to-speech over the Wyoming protocol "
        "(Home Assistant's voice pipeline and satellites) beside the HTTP API."
    )
    host: str = Field(
        "127.0.0.1", description="Address of the Wyoming server. Wyoming has no authentication: "
        "use a LAN address (or 0.0.0.0 behind a firewall), never one reachable from the internet."
    )
    port: int = Field(10300, ge=1, le=65535, description="TCP port of the Wyoming server.")


class RelationshipSettings(BaseModel):
    enabled: bool = Field(
        True, description="Let characters message first: a follow-up after a plan the person "
        "mentioned, a milestone or birthday, a note after a long silence (each person can "
        "turn it off for themselves)."
    )
    check_seconds: float = Field(
        60.0, ge=1, le=86_400, description="How often `hearth serve` looks for a message due."
    )
    absence_days: float = Field(
        3.0, gt=0, le=365, description="Days of silence after which the character reaches out."
    )
    quiet_hours: str = Field(
        "22:00-08:00", description="When no message is started, in each person's time zone "
        "('HH:MM-HH:MM'; may wrap midnight; empty: none)."
    )
    max_per_day: int = Field(
        1, ge=0, le=24, description="Messages a character may start in one conversation a day."
    )

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, text: str) -> str:
        if text.strip():
            parse_quiet_hours(text)
        return text.strip()

    @property
    def quiet(self) -> tuple[int, int] | None:
        """Quiet hours as (start, end) minutes after local midnight, or None."""
        return parse_quiet_hours(self.quiet_hours) if self.quiet_hours else None


def parse_quiet_hours(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not match or int(match[1]) > 23 or int(match[3]) > 23 or int(match[2]) > 59 \
            or int(match[4]) > 59:
        raise ValueError(f"relationship.quiet_hours {text!r} must look like '22:00-08:00'")
    return int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HEARTH_", env_nested_delimiter="__", extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = Field(Path("data"), description="Where the database and indexes live.")
    server: ServerSettings = Field(default_factory=ServerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    wyoming: WyomingSettings = Field(default_factory=WyomingSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    relationship: RelationshipSettings = Field(default_factory=RelationshipSettings)

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, path: Path) -> Path:
        return path.expanduser()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "hearth.db"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "memory"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("HEARTH_CONFIG", "hearth.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; `overrides` (from CLI flags) win over every other source.

    Nested overrides are given as dicts, e.g. `llm={"model_path": p}`; they are merged
    field by field into what the file and the environment said.
    """
    base = Settings()
    choices = read_choices(Path(overrides.get("data_dir") or base.data_dir).expanduser())
    if not overrides and not choices:
        return base
    merged = base.model_dump()
    for layer in (choices, overrides):
        for key, value in layer.items():
            if isinstance(value, dict):
                merged[key].update(value)
            else:
                merged[key] = value
    return Settings.model_validate(merged)


def read_choices(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The settings chosen for `data_dir` with `hearth models use` / `hearth voices use`,
    e.g. {"llm": {"model_path": "..."}, "voice": {"default_voice": "..."}}; {} when none.

    A chosen model whose file has gone is ignored (with a warning), so Hearth still starts.
    """
    path = data_dir / CHOICES_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("%s cannot be read (%s); using the configured model and voice", path, e)
        return {}
    sections = set(Settings.model_fields)
    choices = {k: dict(v) for k, v in raw.items() if k in sections and isinstance(v, dict)} \
        if isinstance(raw, dict) else {}
    model = choices.get("llm", {}).get("model_path")
    if model is not None and not Path(model).is_file():
        log.warning("the chosen model %s is gone; using llm.model_path", model)
        del choices["llm"]["model_path"]
    return choices
