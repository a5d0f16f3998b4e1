"""The FastAPI app, built from settings by `create_app` (for `hearth serve` and tests alike)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hearth.api.deps import get_user
from hearth.api.origins import HostAndOriginCheck
from hearth.api.routes import (
    accounts,
    characters,
    completions,
    conversations,
    events,
    health,
    memory,
    openai_chat,
    relationship,
    speech,
    transcriptions,
    voice,
)
from hearth.api.security_headers import SecurityHeaders
from hearth.api.slow_clients import BodyTimeout
from hearth.backup import watch_restores
from hearth.choices import follow_choices
from hearth.config import Settings
from hearth.errors import HearthError
from hearth.services import Services
from hearth.wyoming import WyomingServer

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"  # the web client, served as it is


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (
            f"the request body is larger than the limit of {self.limit} bytes "
            "(limits.max_body_bytes); send less"
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await error_response(413, "too_large", message)(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            event = await receive()
            seen += len(event.get("body", b""))
            if seen > self.limit:
                raise _BodyTooLarge(message)
            return event

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge as e:
            await error_response(413, "too_large", str(e))(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app. `services` may be handed in (tests share one loaded model)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        running = Services.start(settings) if owned else services
        running.accounts.check_exposure(settings.server.host)
        app.state.services = running
        memory = running.memory
        watcher = None
        if memory is not None:
            # An index left behind (say, by a crash) is repaired in the background; one
            # built from other data is rebuilt, at start or when a restore lands.
            def sync() -> None:
                running.jobs.submit("sync", lambda: asyncio.to_thread(memory.sync))

            sync()
            watcher = asyncio.create_task(watch_restores(running.store, sync))
        tasks = [asyncio.create_task(follow_choices(running))]  # `hearth models/voices use`
        if settings.relationship.enabled:  # characters who write first
            tasks.append(asyncio.create_task(running.outreach.run()))
        wyoming = None
        try:
            if settings.wyoming.enabled:  # Home Assistant's speech, on the same loaded models
                wyoming = WyomingServer(running, settings.wyoming.host, settings.wyoming.port)
                await wyoming.start()
            yield
        finally:
            if wyoming is not None:
                await wyoming.stop()
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await running.jobs.close()
            if owned:
                running.close()

    app = FastAPI(
        title="Hearth",
        summary="A self-hosted AI companion: characters, conversations and memory on one box.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.voice_sockets = voice.OpenSockets(settings.server.voice_sockets_per_person)

    @app.exception_handler(HearthError)
    async def hearth_error(request: Request, exc: HearthError) -> JSONResponse:
        headers = {503: {"Retry-After": "5"}, 429: {"Retry-After": "60"},
                   401: {"WWW-Authenticate": "Bearer"}}.get(exc.status, {})
        return error_response(exc.status, exc.code, exc.message, **headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        return error_response(422, "invalid_request", f"the request is not valid: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed",
                408: "too_slow"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), **(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "something went wrong on the server; see its log")

    @app.exception_handler(UnicodeEncodeError)
    async def not_unicode(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        # JSON can escape half of a UTF-16 pair ("\ud800"), which is no character: text
        # holding one can be neither stored nor tokenized. Any other encoding error is ours.
        if not "\ud800" <= exc.object[exc.start] <= "\udfff":
            return await unexpected(request, exc)
        return error_response(
            422, "invalid_input", "the request holds text that is not valid Unicode (a lone "
            "surrogate escape such as \\ud800 in its JSON); send the text as UTF-8")

    # Health and login are open; every other route needs a user (see api/deps.py).
    # The voice socket asks for its user itself, to answer with a close code.
    for router in (health.router, accounts.router, voice.router):
        app.include_router(router)
    for router in (
        accounts.private, characters.router, conversations.router, conversations.messages_router,
        memory.router, relationship.router, speech.router, transcriptions.router,
        openai_chat.router, completions.router, events.router,
    ):
        app.include_router(router, dependencies=[Depends(get_user)])

    # The web client: static files that hold no data, so they need no key (the API does).
    @app.get("/", include_in_schema=False)
    def web_client() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
    app.add_middleware(BodyLimit, limit=settings.limits.max_body_bytes)
    app.add_middleware(BodyTimeout, seconds=settings.server.timeout_body)
    if settings.server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.server.cors_origins,
                           allow_credentials=True, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(HostAndOriginCheck, server=settings.server)  # outside CORS: first
    app.add_middleware(SecurityHeaders)
    return app

