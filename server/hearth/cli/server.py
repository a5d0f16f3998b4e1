"""`hearth serve`: the HTTP API."""

from __future__ import annotations

import argparse

from hearth.cli.common import Commands, add_command
from hearth.cli.flags import read_settings
from hearth.config import Settings


def serve(args: argparse.Namespace) -> int:
    from hearth.api.app import create_app
    from hearth.api.server import server

    settings = read_settings(args)
    _check_exposure(settings)
    running = server(create_app(settings), settings.server)
    try:
        running.run()
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has stopped
        pass
    return 0 if running.started else 3  # 3: uvicorn's own code for a failed start


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
