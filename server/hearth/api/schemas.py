"""The API's request and response models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, Field

from hearth import lorebook
from hearth.engines.llm import Usage
from hearth.store import Character, Conversation, Message

# An id in a request: SQLite holds 64-bit integers, so a number outside that range names
# nothing and could not even be looked up; it is refused at the edge (422).
Id = Annotated[int, Ge(-(2**63)), Le(2**63 - 1)]
SUMMARY_CHARS = 300  # of a description, in a list of characters
SUMMARY_TAGS, SUMMARY_TAG_CHARS = 20, 40


def iso(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class CharacterOut(BaseModel):
    id: int
    name: str
    avatar_url: str
    data: dict[str, Any] = Field(description="The card's V3 `data` object, every field kept.")
    warnings: list[str] = Field(
        description="What Hearth turned off in this card and why (e.g. a lorebook regex key "
        "that took too long), for the card's editor to show.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Character) -> CharacterOut:
        return cls(
            id=c.id, name=c.name, avatar_url=f"/api/characters/{c.id}/avatar", data=c.data,
            warnings=lorebook.disabled_key_warnings(c.data.get("character_book"),
                                                    c.lore_keys_off),
            created_at=iso(c.created_at), updated_at=iso(c.updated_at),
        )


class CharacterSummary(BaseModel):
    """A character in a list: the card's short fields (GET the character for all of it)."""

    id: int
    name: str
    avatar_url: str
    description: str = Field(description="The start of the card's description.")
    tags: list[str]
    warnings: list[str] = Field(description="As on the character: what Hearth turned off.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Character) -> CharacterSummary:
        full = CharacterOut.of(c)
        description = c.data.get("description") or ""
        return cls(
            id=c.id, name=c.name, avatar_url=full.avatar_url,
            description=description[:SUMMARY_CHARS],
            tags=[t[:SUMMARY_TAG_CHARS] for t in c.data.get("tags", [])[:SUMMARY_TAGS]],
            warnings=full.warnings, created_at=full.created_at, updated_at=full.updated_at,
        )


class ConversationIn(BaseModel):
    character_id: Id


class ConversationOut(BaseModel):
    id: int
    character_id: int
    title: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Conversation) -> ConversationOut:
        return cls(
            id=c.id, character_id=c.character_id, title=c.title,
            created_at=iso(c.created_at), updated_at=iso(c.updated_at),
        )


class ReasonOut(BaseModel):
    """Why the character wrote first."""

    kind: Literal["follow_up", "milestone", "birthday", "absence"]
    about: list[int] = Field(description="The messages it is about (a plan's, say).")
    due: datetime = Field(description="When the plan, date or silence fell due.")


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    role: Literal["user", "assistant"]
    content: str
    swipes: list[str] = Field(description="Alternatives; `content` is swipes[swipe_index].")
    swipe_index: int
    status: Literal["complete", "interrupted"]
    created_at: datetime
    updated_at: datetime
    initiated_by: Literal["user", "character"] = Field(
        "user", description="'character': the character started this turn on its own.")
    reason: ReasonOut | None = None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        reason = None
        if m.reason is not None:
            reason = ReasonOut(kind=m.reason["kind"], about=m.reason.get("about", []),
                               due=iso(m.reason["due"]))
        return cls(
            id=m.id, conversation_id=m.conversation_id, role=m.role,  # type: ignore[arg-type]
            content=m.content, swipes=m.swipes, swipe_index=m.swipe_index,
            status=m.status,  # type: ignore[arg-type]
            created_at=iso(m.created_at), updated_at=iso(m.updated_at),
            initiated_by=m.initiated_by, reason=reason,  # type: ignore[arg-type]
        )


class ConversationWithMessages(ConversationOut):
    messages: list[MessageOut]


class MessageIn(BaseModel):
    content: str
    stream: bool = True


class DraftIn(BaseModel):
    content: str = Field(description="The message as typed so far.")


class RegenerateIn(BaseModel):
    stream: bool = True


class MessagePatch(BaseModel):
    content: str | None = Field(None, description="New text for the shown alternative.")
    swipe_index: int | None = Field(None, ge=0, description="Show another alternative.")


class UsageOut(BaseModel):
    prompt_tokens: int
    prompt_tokens_reused: int
    prompt_tokens_evaluated: int
    completion_tokens: int
    prompt_ms: float
    decode_ms: float
    finish_reason: str

    @classmethod
    def of(cls, u: Usage) -> UsageOut:
        return cls(
            prompt_tokens=u.prompt_tokens, prompt_tokens_reused=u.prompt_tokens_reused,
            prompt_tokens_evaluated=u.prompt_tokens_evaluated,
            completion_tokens=u.completion_tokens, prompt_ms=round(u.prompt_ms, 2),
            decode_ms=round(u.decode_ms, 2), finish_reason=u.finish_reason,
        )


class ReplyOut(MessageOut):
    usage: UsageOut | None = None


class ContextIn(BaseModel):
    content: str = Field(description="The message to build the window for (nothing is stored).")


class BlockOut(BaseModel):
    name: str
    tokens: int
    message_ids: list[int] = Field(description="Source messages (recent turns, memories).")


class MemoryOut(BaseModel):
    id: str = Field(description='"m<id>" a message, "f<id>" a fact, "s<id>" a summary.')
    kind: str
    text: str
    said_at: datetime
    source_message_ids: list[int]
    score: float


class WindowMessage(BaseModel):
    role: str
    content: str


class ContextOut(BaseModel):
    n_ctx: int
    reply_reserve: int
    prompt_tokens: int
    turns_dropped: int
    messages: list[WindowMessage]
    blocks: list[BlockOut]
    memories: list[MemoryOut]
    lorebook: list[str] = Field(description="Names (or starts) of the triggered lorebook entries.")


class ImportMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    created_at: datetime = Field(description="ISO-8601; without a zone, UTC is assumed.")


class ImportIn(BaseModel):
    messages: list[ImportMessage] = Field(min_length=1, max_length=100_000)


class ImportOut(BaseModel):
    imported: int
    message_ids: list[int]


class FactIn(BaseModel):
    character_id: Id
    text: str = Field(min_length=1, max_length=1000)


class FactPatch(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


class FactOut(BaseModel):
    id: int
    character_id: int
    text: str
    source_message_ids: list[int]
    said_at: datetime
    updated_at: datetime


class SummaryOut(BaseModel):
    conversation_id: int
    text: str
    upto_message_id: int | None
    updated_at: datetime | None


class VoiceOut(BaseModel):
    name: str = Field(description="The voice's file stem in the voices folder.")
    sample_rate: int
    language: str
    quality: str | None
    speakers: dict[str, int] = Field(description="Speaker name → id; empty: a single speaker.")
    default: bool = Field(description="The voice of characters that name none.")


class SpeechIn(BaseModel):
    """OpenAI's `POST /v1/audio/speech` body; other OpenAI fields are accepted and ignored."""

    model: str = Field("tts-1", description="Accepted for compatibility; Piper speaks everything.")
    input: str = Field(description="The text to speak, up to limits.max_speech_chars characters.")
    voice: str = Field(
        description="An installed voice (GET /api/voices), or an OpenAI voice name (alloy, ash, "
        "ballad, cedar, coral, echo, fable, marin, nova, onyx, sage, shimmer, verse), which "
        "speaks with the default voice."
    )
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = Field(
        "mp3", description="`pcm` is raw 24 kHz 16-bit mono little-endian, as OpenAI's."
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="2.0 speaks twice as fast.")
