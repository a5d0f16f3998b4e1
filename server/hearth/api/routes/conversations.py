from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.schemas import (
    ConversationIn,
    ConversationOut,
    ConversationWithMessages,
    Id,
    MessageIn,
    MessageOut,
    MessagePatch,
    RegenerateIn,
    ReplyOut,
    UsageOut,
)
from hearth.chat import ReplyDelta, TurnEvent, TurnFinished, TurnStarted
from hearth.errors import HearthError, InvalidInput

log = logging.getLogger(__name__)

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


async def _event_stream(first: TurnEvent, events: AsyncIterator[TurnEvent]) -> AsyncIterator[str]:
    async with aclosing(events):  # type: ignore[type-var]
        event = first
        while True:
            if isinstance(event, TurnStarted):
                user_message = event.user_message and MessageOut.of(event.user_message)
                yield _sse("start", {"user_message": user_message and user_message.model_dump()})
            elif isinstance(event, ReplyDelta):
                yield _sse("delta", {"text": event.text})
            else:
                yield _sse("message", _reply(event).model_dump())
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return
            except HearthError as e:
                yield _sse("error", {"error": {"code": e.code, "message": e.message}})
                return
            except Exception:
                log.exception("reply failed mid-stream")
                message = "the reply failed on the server; see its log"
                yield _sse("error", {"error": {"code": "internal_error", "message": message}})
                return


async def _respond(events: AsyncIterator[TurnEvent], stream: bool) -> Response | ReplyOut:
    # Pull the first event here: errors raised before anything is stored become a 4xx.
    first = await anext(events)
    if stream:
        return StreamingResponse(
            _event_stream(first, events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    async with aclosing(events):  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, TurnFinished):
                return _reply(event)
    raise RuntimeError("turn ended without a reply")


@router.post("", status_code=201)
def create_conversation(
    services: ServicesDep, user: CurrentUser, body: ConversationIn
) -> ConversationWithMessages:
    """Start a conversation with a character; it opens with the character's greeting."""
    conversation = services.chat.start_conversation(user, body.character_id)
    messages = [MessageOut.of(m) for m in services.store.messages.list(conversation.id)]
    return ConversationWithMessages(**ConversationOut.of(conversation).model_dump(), messages=messages)


@router.get("")
def list_conversations(services: ServicesDep, user: CurrentUser) -> list[ConversationOut]:
    return [ConversationOut.of(c) for c in services.store.conversations.list(user_id=user.id)]


@router.get("/{conversation_id}")
def get_conversation(
    services: ServicesDep, user: CurrentUser, conversation_id: Id
) -> ConversationOut:
    return ConversationOut.of(services.store.conversations.get(conversation_id, user_id=user.id))


@router.delete("/{conversation_id}", status_code=204)
def delete_conversation(services: ServicesDep, user: CurrentUser, conversation_id: Id) -> Response:
    services.store.conversations.get(conversation_id, user_id=user.id)
    deleted = services.store.conversations.delete(conversation_id)
    if services.memory is not None:
        services.memory.forget_conversation(conversation_id, deleted)
    return Response(status_code=204)


@router.get("/{conversation_id}/messages")
def list_messages(
    services: ServicesDep, user: CurrentUser, conversation_id: Id
) -> list[MessageOut]:
    services.store.conversations.get(conversation_id, user_id=user.id)
    return [MessageOut.of(m) for m in services.store.messages.list(conversation_id)]


@router.post(
    "/{conversation_id}/messages", response_model=ReplyOut, description=STREAM_DOC,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def send_message(
    services: ServicesDep, user: CurrentUser, conversation_id: Id, body: MessageIn
) -> Response | ReplyOut:
    return await _respond(services.chat.send(user, conversation_id, body.content), body.stream)


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
    return await _respond(services.chat.regenerate(user, conversation_id), stream)


@messages_router.patch("/{message_id}")
def edit_message(
    services: ServicesDep, user: CurrentUser, message_id: Id, body: MessagePatch
) -> MessageOut:
    message = services.store.messages.get(message_id, user_id=user.id)
    if body.content is None and body.swipe_index is None:
        raise InvalidInput("nothing to change: give `content` and/or `swipe_index`")
    if body.swipe_index is not None and body.swipe_index >= len(message.swipes):
        raise InvalidInput(
            f"swipe_index {body.swipe_index} is out of range: this message has "
            f"{len(message.swipes)} alternative(s), numbered from 0"
        )
    if body.content is not None:
        services.chat.check_content(body.content)
    edited = services.store.messages.edit(message, content=body.content,
                                          swipe_index=body.swipe_index)
    if services.memory is not None:
        services.memory.index_messages([edited.id])
    return MessageOut.of(edited)


@messages_router.delete("/{message_id}", status_code=204)
def delete_message(services: ServicesDep, user: CurrentUser, message_id: Id) -> Response:
    services.store.messages.get(message_id, user_id=user.id)
    services.store.messages.delete(message_id)
    if services.memory is not None:
        services.memory.forget([message_id])
    return Response(status_code=204)
