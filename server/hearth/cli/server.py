"""`hearth serve`: the HTTP API."""

from __future__ import annotations

import argparse

from hearth.cli.common import Commands, add_command
from hearth.cli.flags import read_settings
from hearth.config import Settings


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hearth.api.app import create_app
    from hearth.api.slow_clients import header_timeout_protocol

    settings = read_settings(args)
    _check_exposure(settings)
    app = create_app(settings)
    server = settings.server
    uvicorn.run(app, host=server.host, port=server.port, log_level="info",
                http=header_timeout_protocol(server.timeout_headers),
                timeout_keep_alive=server.timeout_keep_alive)
    return 0


def _check_exposure(settings: Settings) -> None:
    """Before loading any model: refuse to listen on the LAN without accounts."""
    from hearth.accounts import Accounts, is_loopback
    from hearth.store import Store

    store = Store(settings.db_path)
    try:
        Accounts(store, loopback_only=is_loopback(settings.server.host)).check_exposure(
            settings.server.host)
    finally:
        store.close()


def register(commands: Commands) -> None:
    add_command(commands, "serve", serve, help="start the HTTP API (default 127.0.0.1:8000)")
