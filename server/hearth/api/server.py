"""uvicorn as Hearth runs it: `hearth serve`, and the live servers of the tests."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

from hearth.api.slow_clients import header_timeout_protocol
from hearth.config import ServerSettings


class Server(uvicorn.Server):
    """uvicorn, ending the event streams (`GET /api/events`) as it begins to stop.

    On Ctrl-C uvicorn stops listening, then waits for every open response to finish;
    an event stream never finishes by itself, so without this one open browser tab
    would keep `hearth serve` from stopping.
    """

    def __init__(self, app: FastAPI, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(self.app.state, "services", None)  # set once the app started
        if services is not None:
            services.feed.close()
        await super().shutdown(sockets)


def server(app: FastAPI, settings: ServerSettings, **config: Any) -> Server:
    """A server of `app` with the settings' address and time limits (`config`: more of
    uvicorn's options, or other values for these)."""
    return Server(app, uvicorn.Config(
        app, **{"host": settings.host, "port": settings.port, "log_level": "info",
                "http": header_timeout_protocol(settings.timeout_headers),
                "timeout_keep_alive": settings.timeout_keep_alive, **config}))
