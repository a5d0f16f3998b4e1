"""`hearth`: serve the API, chat in the terminal, manage characters.

Each command module registers its commands, one handler each (`set_defaults(handler=...)`);
every command takes a flag for each setting (`hearth.cli.flags`). Command modules import
the heavy parts (models, the store, the server) inside their handlers, so `hearth --help`
stays quick.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hearth.cli import catalog, characters, conversation, data, me, memory, server, users
from hearth.errors import HearthError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth",
        description="Hearth: a self-hosted AI companion. Settings come from ./hearth.toml "
        "(or --config), HEARTH_* environment variables, and command-line flags (one for every "
        "setting: `hearth COMMAND --help`), in rising priority.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (server, conversation, characters, users, me, memory, data, catalog):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except (HearthError, FileNotFoundError) as e:
        sys.stderr.write(f"hearth: {getattr(e, 'message', e)}\n")
        return 2
    except KeyboardInterrupt:
        return 130
