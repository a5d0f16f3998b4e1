"""The household's people: log in and out, tokens, and the owner's list of members."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hearth.accounts import SESSION_SECONDS
from hearth.api.deps import SESSION_COOKIE, CurrentUser, Owner, ServicesDep, presented_token
from hearth.api.schemas import Id, iso
from hearth.backup import Export, export_user
from hearth.errors import InvalidInput
from hearth.relationship.profile import ProfileFields
from hearth.store import Token, User

NO_ACCOUNTS = "there are no accounts yet: the owner is made with `hearth users init`"

router = APIRouter(prefix="/api", tags=["accounts"])  # login: the one route open to all
private = APIRouter(prefix="/api", tags=["accounts"])  # the rest: a user is required


class LoginIn(BaseModel):
    name: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    has_password: bool
    created_at: datetime
    display_name: str = Field(description="What characters call them; '' = their name.")
    pronouns: str
    persona: str = Field(description="Their own short description, given to characters.")
    timezone: str = Field(description="IANA name in effect (the server's zone when unset).")
    language: str = Field(description="BCP-47 tag in effect ('en' when unset).")
    language_set: bool = Field(False, description="They chose `language` (else the web page "
                               "follows the browser's languages).")
    reach_out: bool = Field(description="Characters may start a conversation with them.")

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(id=u.id, name=u.name, role=u.role, has_password=u.has_password,
                   created_at=iso(u.created_at), display_name=u.display_name,
                   pronouns=u.pronouns, persona=u.persona, timezone=u.zone.key,
                   language=u.lang, language_set=bool(u.language), reach_out=u.reach_out)


class ProfileIn(BaseModel):
    """Any of the profile's fields; those left out stay as they are. Checked in
    relationship/profile.py (the limits there give the clearer messages)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is refused, not ignored

    display_name: str | None = Field(None, max_length=1000)
    pronouns: str | None = Field(None, max_length=1000)
    persona: str | None = Field(None, max_length=20000)
    timezone: str | None = Field(None, max_length=200,
                                 description="IANA name, e.g. 'Asia/Seoul'; '' = the server's.")
    language: str | None = Field(None, max_length=200,
                                 description="BCP-47 tag, e.g. 'ko' or 'pt-BR'; '' = English.")
    reach_out: bool | None = None

    def fields(self) -> ProfileFields:
        return ProfileFields(**self.model_dump(exclude_unset=True))


class SessionOut(BaseModel):
    user: UserOut
    token: str = Field(description="Shown once: send it as `Authorization: Bearer <token>`.")


class UserIn(BaseModel):
    name: str = Field(max_length=200)
    password: str | None = Field(None, max_length=1000,
                                 description="Lets them log in to the web client; optional.")


class PasswordIn(BaseModel):
    password: str = Field(max_length=1000)


class TokenIn(BaseModel):
    label: str = Field("api token", max_length=100, description="What the token is for.")


class TokenOut(BaseModel):
    id: int
    kind: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: Token) -> TokenOut:
        return cls(id=t.id, kind=t.kind, label=t.label, created_at=iso(t.created_at),
                   expires_at=iso(t.expires_at) if t.expires_at else None,
                   last_used_at=iso(t.last_used_at) if t.last_used_at else None)


class NewTokenOut(TokenOut):
    token: str = Field(description="Shown once; only a digest of it is kept.")


@router.post("/login")
def login(services: ServicesDep, body: LoginIn, response: Response) -> SessionOut:
    """A session for the web client: the token comes back and as an HttpOnly cookie."""
    user, token = services.accounts.login(body.name, body.password)
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_SECONDS, httponly=True,
                        samesite="strict")
    return SessionOut(user=UserOut.of(user), token=token)


@private.post("/logout", status_code=204)
def logout(services: ServicesDep, user: CurrentUser, request: Request) -> Response:
    token = presented_token(request)
    if token is not None:
        services.accounts.logout(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@private.get("/me")
def me(user: CurrentUser) -> UserOut:
    """Who you are to Hearth: your account and your profile."""
    return UserOut.of(user)


@private.patch("/me")
def set_profile(services: ServicesDep, user: CurrentUser, body: ProfileIn) -> UserOut:
    """Change your profile (single-user mode too): a field that is not valid is refused
    (422, the message starts with its name) and then nothing changes."""
    return UserOut.of(services.people.set_profile(user.id, body.fields()))


@private.put("/me/password", status_code=204)
def set_password(services: ServicesDep, user: CurrentUser, body: PasswordIn) -> Response:
    """Set your password; your other web sessions end."""
    if services.accounts.single_user:
        raise InvalidInput(NO_ACCOUNTS)
    services.accounts.set_password(user, body.password)
    return Response(status_code=204)


@private.get("/export")
def export(services: ServicesDep, user: CurrentUser) -> Export:
    """Everything that is yours, as JSON: conversations with every message, summaries and
    facts (what `hearth export --user NAME` writes)."""
    return export_user(services.store, user.name)


@private.get("/tokens")
def list_tokens(services: ServicesDep, user: CurrentUser) -> list[TokenOut]:
    """Your API tokens and web sessions (never the secrets themselves)."""
    return [TokenOut.of(t) for t in services.accounts.tokens(user)]


@private.post("/tokens", status_code=201)
def new_token(services: ServicesDep, user: CurrentUser, body: TokenIn) -> NewTokenOut:
    if services.accounts.single_user:
        raise InvalidInput(NO_ACCOUNTS)
    token, secret = services.accounts.issue_token(user, body.label)
    return NewTokenOut(**TokenOut.of(token).model_dump(), token=secret)


@private.delete("/tokens/{token_id}", status_code=204)
def revoke_token(services: ServicesDep, user: CurrentUser, token_id: Id) -> Response:
    services.accounts.revoke(user, token_id)
    return Response(status_code=204)


@private.get("/users")
def list_users(services: ServicesDep, owner: Owner) -> list[UserOut]:
    return [UserOut.of(u) for u in services.people.all()]


@private.post("/users", status_code=201)
def add_user(services: ServicesDep, owner: Owner, body: UserIn) -> SessionOut:
    """Add a member of the household; their first API token comes back once."""
    if services.accounts.single_user:
        raise InvalidInput(NO_ACCOUNTS)
    user, token = services.accounts.add_member(body.name, body.password)
    return SessionOut(user=UserOut.of(user), token=token)


@private.patch("/users/{user_id}")
def set_member_profile(services: ServicesDep, owner: Owner, user_id: Id,
                       body: ProfileIn) -> UserOut:
    """The owner sets a member's profile (as PATCH /api/me does for oneself)."""
    return UserOut.of(services.people.set_profile(user_id, body.fields()))


@private.delete("/users/{user_id}", status_code=204)
def remove_user(services: ServicesDep, owner: Owner, user_id: Id) -> Response:
    """Remove a member with their conversations, memories and facts."""
    if services.accounts.single_user:
        raise InvalidInput(NO_ACCOUNTS)
    services.people.remove(user_id)
    return Response(status_code=204)
