"""OpenAI-compatible chat: `GET /v1/models` and `POST /v1/chat/completions`.

Every character is a model. The last message says what the request is: a user's is
one new turn, built, streamed, stored and remembered exactly as a native turn
(`Chat.send`); an assistant's continues the stored last reply (`Chat.continue_reply`);
a system one is answered once and not stored (`Chat.answer_once`). The messages before
it are the client's copy of the conversation: `ClientHistory.place` picks the stored
conversation it belongs to (the `X-Hearth-Conversation` header, the `user` field as a
thread's name, else the one sharing most messages with it) and brings that one in step
(a regenerate, edits, deletions, a fork). The response says which conversation in its
own `X-Hearth-Conversation` header, and what was changed in `X-Hearth-History`.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from hearth.api.deps import CurrentUser, ServicesDep
from hearth.api.schemas import Id
from hearth.api.streaming import respond
from hearth.chat import ReplyDelta, TurnEvent, TurnFinished, TurnStarted
from hearth.client_history import Sent
from hearth.engines.llm import Usage
from hearth.errors import InvalidInput, NotFound
from hearth.relationship.profile import ProfileFields
from hearth.services import Services
from hearth.store import Character, User, model_ids

router = APIRouter(prefix="/v1", tags=["openai"])

CONVERSATION_HEADER = "X-Hearth-Conversation"
NOTE_HEADER = "X-Hearth-Note"
HISTORY_HEADER = "X-Hearth-History"  # what following the client's history changed
# What the last message's role asks for: a new turn, more of the last reply, or an
# answer that is not stored (SillyTavern's impersonate, quiet prompts, summaries).
ROLES = {"user": "turn", "assistant": "continue", "system": "once", "developer": "once"}
MAX_STOP = 4  # stop sequences, as OpenAI allows
DEFAULT_NAMES = ("User", "user", "You", "{{user}}")  # clients' placeholders, not names
PERSONA = re.compile(r"\bfictional chat between .{1,80}? and ([^.\n]{1,60})\.")


# -- models ---------------------------------------------------------------------------


class ModelOut(BaseModel):
    id: str = Field(description="The character's name as a slug, given once and kept; the "
                    "character's number works too.")
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "hearth"
    name: str = Field(description="The character's name.")
    character_id: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


def models(services: Services) -> dict[str, Character]:
    """Model id -> character. Each character's id is given when it is made and kept
    (`hearth.store.model_ids`): its name's slug, with a number for a later namesake."""
    return {c.model_id: c for c in services.characters.all()}


def _find_model(services: Services, model: str) -> tuple[str, Character]:
    model = unicodedata.normalize("NFC", model)  # ids are NFC: an NFD "나래" finds "나래"
    store = services.store.characters
    found = store.find_by_model_id(model) or store.find_by_model_id(model.casefold())
    if found is None and model.isdigit():  # the character's number
        found = next((c for c in services.characters.all() if c.id == int(model)), None)
    if found is None and (old := re.fullmatch(r"(.+)-(\d+)", model)):
        # Ids before they were stored: namesakes had their number appended ("basil-7").
        c = next((c for c in services.characters.all() if c.id == int(old[2])), None)
        found = c if c is not None and model_ids.slug(c.name) == old[1] else None
    if found is None:
        raise NotFound(f"no model {model!r}: each character is a model; list them at "
                       "GET /v1/models")
    return found.model_id, found


def _model_out(model_id: str, c: Character) -> ModelOut:
    return ModelOut(id=model_id, created=int(c.created_at), name=c.name, character_id=c.id)


@router.get("/models")
def list_models(services: ServicesDep) -> ModelList:
    """The characters, as OpenAI models."""
    return ModelList(data=[_model_out(i, c) for i, c in models(services).items()])


@router.get("/models/{model}")
def get_model(services: ServicesDep, model: str) -> ModelOut:
    return _model_out(*_find_model(services, model))


# -- chat completions -----------------------------------------------------------------


def _utf8(text: str) -> str:
    # JSON can carry half of a UTF-16 pair ("\ud800"), which no model or database takes.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds text that is not valid Unicode (a lone surrogate); "
                         "send UTF-8 text") from None
    return text


class ContentPart(BaseModel):
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = Field(None, max_length=200)

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    """OpenAI's request. Fields it has that are not here (tools, logprobs, ...) are ignored."""

    model: str = Field(description="A model id from GET /v1/models: which character answers.")
    messages: list[ChatMessageIn] = Field(
        min_length=1, description="The last one is the request: the user's new turn, an "
        "assistant reply to continue, or a system prompt to answer once (not stored). The "
        "user and assistant messages before it are the client's copy of the conversation, "
        "which the stored one is brought in step with (X-Hearth-History says how); system "
        "messages before it are the client's own prompt (server.client_card).")
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(
        None, ge=1, description="Default llm.max_reply_tokens; more is honoured when the turn's "
        "prompt leaves room for it in the window, else refused (422, saying how many fit).")
    max_completion_tokens: int | None = Field(None, ge=1, description="Same as max_tokens.")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    stop: str | list[str] | None = Field(None, description=f"Up to {MAX_STOP} strings.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    n: int = Field(1, ge=1, description="Only 1: one reply per turn.")
    user: str | None = Field(
        None, max_length=200, description="Names a thread: the same name continues the same "
        "Hearth conversation with this character, started on first use.")

    @field_validator("user")
    @classmethod
    def _user_text(cls, v: str | None) -> str | None:
        return v if v is None else _utf8(v)

    @field_validator("stop")
    @classmethod
    def _stop_texts(cls, v: str | list[str] | None) -> list[str]:
        stops = [v] if isinstance(v, str) else v or []
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences")
        return [_utf8(s) for s in stops]

    def sent(self) -> list[Sent]:
        """The conversation as the client has it: its user and assistant messages."""
        try:
            return [Sent(m.role, _utf8(m.text())) for m in self.messages
                    if m.role in ("user", "assistant")]
        except ValueError as e:
            raise InvalidInput(f"a message {e}") from None

    def system_text(self) -> str:
        """The client's own prompt: its system messages before the last message."""
        return "\n\n".join(m.text().strip() for m in self.messages[:-1]
                           if m.role in ("system", "developer") and m.text().strip())

    def user_name(self) -> str | None:
        """The name the client calls its person by: `name` on its user messages, or the
        user in SillyTavern's default main prompt ("... a fictional chat between Seraphina
        and Alex.")."""
        named = [m.name for m in self.messages if m.role == "user" and m.name]
        if named:
            return named[-1].strip() or None
        found = PERSONA.search(self.system_text())
        return found[1].strip() if found else None

    def last_text(self) -> tuple[str, list[str]]:
        """The last message's text, and notes on what of it was left out (images)."""
        last = self.messages[-1]
        if last.role not in ROLES:
            raise InvalidInput(
                f"the last message has the role {last.role!r}; send 'user' (a new turn), "
                "'assistant' (continue that reply) or 'system' (answer it once, storing nothing)")
        notes = []
        text = last.text()
        if isinstance(last.content, list):
            # Named in a header: a type that is not a plain word is counted as "other".
            dropped = Counter(p.type if re.fullmatch(r"[a-z_]{1,32}", p.type) else "other"
                              for p in last.content if p.type != "text")
            if dropped:
                kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(dropped.items()))
                notes.append(f"dropped {kinds} part(s) of the last message: this model reads "
                             "text only")
                if not text.strip():
                    raise InvalidInput("the last message has no text, only parts this model "
                                       "cannot read (images); send text with them")
        try:
            return _utf8(text), notes
        except ValueError as e:
            raise InvalidInput(f"the last message {e}") from None


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: str


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int] = Field(
        description="`cached_tokens`: prompt tokens llama.cpp reused from its cache.")

    @classmethod
    def of(cls, u: Usage) -> CompletionUsage:
        return cls(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                   total_tokens=u.prompt_tokens + u.completion_tokens,
                   prompt_tokens_details={"cached_tokens": u.prompt_tokens_reused})


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    notes: list[str] = Field(
        default_factory=list, description="What Hearth did with the request beyond the "
        "usual (also in the X-Hearth-Note header), e.g. image parts dropped.")


STREAM_DOC = (
    "One new turn of a Hearth conversation with the character `model`; it is stored like a "
    "native turn. A last message from `assistant` continues that reply instead (the "
    "response carries only the new text); one from `system` is answered once from the "
    "conversation's window and nothing is stored. The conversation: the "
    "`X-Hearth-Conversation` header, else the one named by `user`, else the one sharing "
    "most messages with the client's history, else your latest with the character (each "
    "started when missing); earlier user and assistant messages bring it in step "
    "(regenerate, edits, deletions, a fork), said in `X-Hearth-History`. The response names "
    "the conversation in its own `X-Hearth-Conversation` header. With `stream`, "
    "Server-Sent Events of `chat.completion.chunk` objects and `data: [DONE]`; with "
    "`stream_options.include_usage`, a last chunk with empty `choices` carries `usage`. "
    "`X-Hearth-Note` (and `notes`) say what was left out or done beyond the usual, such "
    "as image parts."
)


def _finish_reason(usage: Usage) -> str:
    return "length" if usage.finish_reason == "length" else "stop"


def _data(payload: object) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class OpenAIChunks:
    """OpenAI's wire format: `chat.completion.chunk` objects, a last one with `usage` when
    asked for, and `data: [DONE]`; or one `chat.completion` without a stream."""

    def __init__(self, model: str, include_usage: bool, headers: dict[str, str], *,
                 notes: list[str], continuing: bool = False) -> None:
        self.model = model
        self.include_usage = include_usage
        self.headers = headers
        self.notes = notes
        self.head: dict[str, Any] = {}
        # The stored reply starts at its first non-space; a continuation's text goes on
        # from the reply's end as it is (a leading space included).
        self.said = continuing
        self.id = f"chatcmpl-{uuid.uuid4().hex[:16]}"  # a turn's: its user message's

    def _id(self, first: TurnStarted) -> str:
        return self.id if first.user_message is None else f"chatcmpl-{first.user_message.id}"

    def _chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return _data({**self.head, "choices": [choice]})

    def frames(self, event: TurnEvent) -> Iterator[str]:
        if isinstance(event, TurnStarted):
            self.head = {"id": self._id(event),
                         "object": "chat.completion.chunk", "created": int(time.time()),
                         "model": self.model}
            if self.include_usage:
                self.head["usage"] = None  # as OpenAI: only the last chunk carries it
            yield self._chunk({"role": "assistant", "content": ""})
        elif isinstance(event, ReplyDelta):
            text = event.text if self.said else event.text.lstrip()
            if text:
                self.said = True
                yield self._chunk({"content": text})
        else:
            yield self._chunk({}, _finish_reason(event.usage))
            if self.include_usage:
                usage = CompletionUsage.of(event.usage).model_dump()
                yield _data({**self.head, "choices": [], "usage": usage})

    def error(self, code: str, message: str) -> str:
        return _data({"error": {"code": code, "message": message}})

    def end(self) -> Iterator[str]:
        yield "data: [DONE]\n\n"

    def reply(self, first: TurnStarted, last: TurnFinished) -> Response:
        content = last.message.content if last.added is None else last.added
        out = ChatCompletionOut(
            id=self._id(first), created=int(time.time()), model=self.model,
            usage=CompletionUsage.of(last.usage), notes=self.notes,
            choices=[Choice(message=CompletionMessage(content=content),
                            finish_reason=_finish_reason(last.usage))])
        return JSONResponse(out.model_dump(), headers=self.headers)


def _header_text(notes: list[str] | tuple[str, ...]) -> str:
    """Notes as a header value: ASCII (other characters as \\u escapes; `notes` in the
    body has them as they are), one line."""
    text = "; ".join(notes).encode("ascii", "backslashreplace").decode()
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


def _learn_name(services: Services, user: User, name: str | None, notes: list[str]) -> User:
    """A name the client gives its person becomes their shown name, unless they chose one."""
    if not name or user.display_name or name in (user.name, *DEFAULT_NAMES):
        return user
    try:
        user = services.people.set_profile(user.id, ProfileFields(display_name=name))
    except InvalidInput:
        return user  # not a name the profile takes: the client's business
    notes.append(f"your profile's display name is now {name!r}, as the client calls you "
                 "(change it at PATCH /api/me)")
    return user


def _card(services: Services, character: Character, system: str, notes: list[str]
          ) -> dict[str, Any] | None:
    """The card for this request: the client's system text in place of the character's
    when server.client_card is 'client'; else None (the character's own)."""
    if not system:
        return None
    if services.settings.server.client_card == "client":
        return {"name": character.name, "system_prompt": system}
    notes.append(f"{character.name}'s own card spoke; the client's system prompt was set aside "
                 "(server.client_card = 'client' uses it instead)")
    return None


@router.post(
    "/chat/completions", response_model=ChatCompletionOut, description=STREAM_DOC,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def create_chat_completion(
    services: ServicesDep, user: CurrentUser, body: ChatCompletionIn, request: Request,
    conversation_id: Annotated[Id | None, Header(
        alias=CONVERSATION_HEADER, description="The conversation to continue (yours, with "
        "this character).")] = None,
) -> Response:
    if body.n != 1:
        raise InvalidInput("n: Hearth gives one reply per turn; send n = 1 or leave it out")
    model, character = _find_model(services, body.model)
    chat = services.chat
    text, notes = body.last_text()
    kind = ROLES[body.messages[-1].role]
    if kind != "continue":
        text = chat.check_content(text)
    params = chat.sampling(
        max_tokens=body.max_completion_tokens or body.max_tokens, temperature=body.temperature,
        top_p=body.top_p, stop=body.stop or (), seed=body.seed)
    sent = body.sent()
    services.model.check_capacity(user.id)  # before a new conversation is started
    user = await run_in_threadpool(_learn_name, services, user, body.user_name(), notes)
    card = _card(services, character, body.system_text(), notes)
    placed = await run_in_threadpool(
        services.history.place, user, character.id, sent, kind=kind,
        conversation_id=conversation_id, thread=body.user)
    conversation = placed.conversation
    notes += placed.notes
    if placed.plan.regenerate is not None:
        events = chat.regenerate(user, conversation.id, params, card)
    elif kind == "turn":
        events = chat.send(user, conversation.id, text, params, card)
    elif kind == "continue":  # the client's copy of the reply is stored by now
        events = chat.continue_reply(user, conversation.id, params, card)
    else:
        notes.append("answered once from the conversation's window; nothing was stored")
        events = chat.answer_once(user, conversation.id, text, params, card)
    headers = {CONVERSATION_HEADER: str(conversation.id)}
    if placed.notes:
        headers[HISTORY_HEADER] = _header_text(placed.notes)
    if notes:
        headers[NOTE_HEADER] = _header_text(notes)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    wire = OpenAIChunks(model, include_usage, headers, notes=notes,
                        continuing=kind == "continue")
    return await respond(events, wire, stream=body.stream, headers=headers, request=request)
