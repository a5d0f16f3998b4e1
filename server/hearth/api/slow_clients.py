"""Time limits for clients too slow to be honest: headers, bodies, idle connections.

uvicorn closes a kept-alive connection that idles (`timeout_keep_alive`), but not one
that connects and sends nothing, sends its headers a byte at a time, or its body at
10 bytes a second: each holds a file descriptor forever, and a few hundred of them
take the server down. `header_timeout_protocol` gives uvicorn's HTTP protocol a
deadline for each request's headers; `BodyTimeout` gives the app one for its body.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger(__name__)


class _HeaderDeadline:
    """Closes the connection when a request's headers are not all in `header_timeout`
    seconds after it connected, or after the first byte of a later request."""

    header_timeout: float
    _deadline: asyncio.TimerHandle | None = None

    # The attributes and methods below are uvicorn's (h11 and httptools alike).
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if self._deadline is None and (cycle is None or cycle.response_complete):
            self._arm()  # a new request begins
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not cycle:  # its headers are in: the app has it now
            self._disarm()

    def handle_websocket_upgrade(self, *args: Any) -> None:
        self._disarm()
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.debug("closing a connection that sent no complete headers in %ss",
                      self.header_timeout)
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (`http=` of `uvicorn.run`) with a deadline for headers."""
    return type("HeaderTimeoutProtocol", (_HeaderDeadline, AutoHTTPProtocol),
                {"header_timeout": seconds})


class BodyTimeout:
    """408 (and the connection closed) when a request's body is not all in `seconds`
    from the app's first read of it."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        done = False

        async def bounded_receive() -> Message:
            nonlocal deadline, done
            if done:  # the body is in: what follows is waiting for a disconnect
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, (
                    f"the request body did not arrive within {self.seconds:g} seconds "
                    "(server.timeout_body); send it at once, or raise the limit"),
                    headers={"Connection": "close"}) from None
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, bounded_receive, send)
