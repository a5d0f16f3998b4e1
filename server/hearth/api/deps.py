"""Dependencies shared by the routers, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hearth.services import Services
from hearth.store import User


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def get_user(services: Annotated[Services, Depends(get_services)]) -> User:
    # One household user for now; accounts and tokens replace this in one place.
    return services.user


ServicesDep = Annotated[Services, Depends(get_services)]
CurrentUser = Annotated[User, Depends(get_user)]
