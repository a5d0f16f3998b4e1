"""What every command module uses: terminal output and registering a command's handler."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeAlias

from hearth.cli.flags import HelpFormatter, add_settings_flags

Handler = Callable[[argparse.Namespace], int]
# What add_subparsers() returns; argparse names it privately.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def add_command(commands: Commands, name: str, handler: Handler, *, help: str,
                description: str | None = None) -> argparse.ArgumentParser:
    """A (sub)command run by `handler`, taking --config and a flag for every setting."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description, formatter_class=HelpFormatter)
    parser.set_defaults(handler=handler)
    add_settings_flags(parser)
    return parser


def add_group(commands: Commands, name: str, *, help: str,
              description: str | None = None) -> Commands:
    """A command made of actions (`hearth users add`), each added with add_command."""
    parser = commands.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")
