from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter, Response

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.schemas import (
    ConversationIn,
    ConversationOut,
    ConversationWithMessages,
    DraftIn,
    Id,
    MessageIn,
    MessageOut,
    MessagePatch,
    RegenerateIn,
    ReplyOut,
    UsageOut,
)
from hearth.api.streaming import respond
from hearth.chat import ReplyDelta, TurnEvent, TurnFinished, TurnStarted

router = APIRouter(prefix="/api/conversations", tags=["conversations"])
messages_router = APIRouter(prefix="/api/messages", tags=["conversations"])

STREAM_DOC = (
    "With `stream` (the default), the answer is Server-Sent Events: `start` (the stored user "
    "message, or null on regenerate), then `delta` events `{\"text\"}` as tokens arrive, and "
    "last `message`: the stored reply with its `usage`. A failure mid-stream is an `error` "
    "event `{\"error\": {\"code\", \"message\"}}`. Without `stream`, the stored reply as JSON."
)


def _reply(event: TurnFinished) -> ReplyOut:
    return ReplyOut(**MessageOut.of(event.message).model_dump(), usage=UsageOut.of(event.usage))


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


class NativeEvents:
    """Hearth's own wire format: `start`, `delta`..., `message`; or `error`."""

    def frames(self, event: TurnEvent) -> Iterator[str]:
        if isinstance(event, TurnStarted):
            user_message = event.user_message and MessageOut.of(event.user_message)
            yield _sse("start", {"user_message": user_message and user_message.model_dump()})
        elif isinstance(event, ReplyDelta):
            yield _sse("delta", {"text": event.text})
        else:
            yield _sse("message", _reply(event).model_dump())

    def error(self, code: str, message: str) -> str:
        return _sse("error", {"error": {"code": code, "message": message}})

    def end(self) -> Iterator[str]:
        return iter(())

    def reply(self, first: TurnStarted, last: TurnFinished) -> ReplyOut:
        return _reply(last)


@router.post("", status_code=201)
def create_conversation(
    services: ServicesDep, user: CurrentUser, body: ConversationIn
) -> ConversationWithMessages:
    """Start a conversation with a character; it opens with the character's greeting."""
    started = services.conversations.start(user, body.character_id)
    return ConversationWithMessages(**ConversationOut.of(started.conversation).model_dump(),
                                    messages=[MessageOut.of(m) for m in started.messages])


@router.get("")
def list_conversations(services: ServicesDep, user: CurrentUser) -> list[ConversationOut]:
    return [ConversationOut.of(c) for c in services.conversations.all(user)]


@router.get("/{conversation_id}")
def get_conversation(
    services: ServicesDep, user: CurrentUser, conversation_id: Id
) -> ConversationOut:
    return ConversationOut.of(services.conversations.get(user, conversation_id))


@router.delete("/{conversation_id}", status_code=204)
def delete_conversation(services: ServicesDep, user: CurrentUser, conversation_id: Id) -> Response:
    services.conversations.delete(user, conversation_id)
    return Response(status_code=204)


@router.get("/{conversation_id}/messages")
def list_messages(
    services: ServicesDep, user: CurrentUser, conversation_id: Id
) -> list[MessageOut]:
    return [MessageOut.of(m) for m in services.conversations.messages(user, conversation_id)]


@router.post(
    "/{conversation_id}/messages", response_model=ReplyOut, description=STREAM_DOC,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def send_message(
    services: ServicesDep, user: CurrentUser, conversation_id: Id, body: MessageIn
) -> Response | ReplyOut:
    events = services.chat.send(user, conversation_id, body.content)
    return await respond(events, NativeEvents(), stream=body.stream)


@router.post("/{conversation_id}/prepare", status_code=204)
async def prepare_message(
    services: ServicesDep, user: CurrentUser, conversation_id: Id, body: DraftIn
) -> Response:
    """The message the person is typing, as far as it goes: the prompt it would get is
    evaluated now and stored nowhere, so sending it soon after starts the reply sooner
    (only what changed since is evaluated then). The web page sends it when typing
    pauses. Skipped when anyone is waiting for the model."""
    await services.chat.prepare(user, conversation_id, body.content)
    return Response(status_code=204)


@router.post(
    "/{conversation_id}/regenerate", response_model=ReplyOut, description=STREAM_DOC,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def regenerate(
    services: ServicesDep, user: CurrentUser, conversation_id: Id,
    body: RegenerateIn | None = None,
) -> Response | ReplyOut:
    """A new alternative for the last reply, kept beside the old ones as swipes."""
    stream = body.stream if body else True
    events = services.chat.regenerate(user, conversation_id)
    return await respond(events, NativeEvents(), stream=stream)


@messages_router.patch("/{message_id}")
def edit_message(
    services: ServicesDep, user: CurrentUser, message_id: Id, body: MessagePatch
) -> MessageOut:
    return MessageOut.of(services.conversations.edit_message(
        user, message_id, content=body.content, swipe_index=body.swipe_index))


@messages_router.delete("/{message_id}", status_code=204)
def delete_message(services: ServicesDep, user: CurrentUser, message_id: Id) -> Response:
    services.conversations.delete_message(user, message_id)
    return Response(status_code=204)
