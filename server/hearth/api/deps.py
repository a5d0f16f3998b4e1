"""Dependencies shared by the routers, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from hearth.errors import Forbidden, Unauthorized
from hearth.services import Services
from hearth.store import User

SESSION_COOKIE = "hearth_session"


def get_services(conn: HTTPConnection) -> Services:
    return conn.app.state.services  # type: ignore[no-any-return]


def presented_token(conn: HTTPConnection) -> str | None:
    """The key a client presents: `Authorization: Bearer ...`, or the web session cookie."""
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return conn.cookies.get(SESSION_COOKIE)


def get_user(conn: HTTPConnection, services: Annotated[Services, Depends(get_services)]) -> User:
    """Who is asking. Works for HTTP routes and the voice WebSocket alike."""
    token = presented_token(conn)
    user = services.accounts.authenticate(token) if token is not None else None
    if user is not None:
        return user
    if services.accounts.single_user:
        # No key is needed yet; one sent anyway (OpenAI clients always send one) is ignored.
        return services.accounts.local_user()
    if token is not None:
        raise Unauthorized("this token is not valid (revoked, expired or mistyped); "
                           "log in again or ask the owner for a new one")
    raise Unauthorized("sign in first: send `Authorization: Bearer <token>` "
                       "(`hearth users token NAME` makes one) or log in at POST /api/login")


def get_owner(user: Annotated[User, Depends(get_user)],
              services: Annotated[Services, Depends(get_services)]) -> User:
    if not (user.is_owner or services.accounts.single_user):
        raise Forbidden("only the household's owner can do this")
    return user


ServicesDep = Annotated[Services, Depends(get_services)]
CurrentUser = Annotated[User, Depends(get_user)]
Owner = Annotated[User, Depends(get_owner)]
