"""`hearth users`: the household's owner and members, their tokens and passwords."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hearth.cli.common import Commands, add_command, add_group, out
from hearth.cli.flags import read_settings
from hearth.errors import HearthError

if TYPE_CHECKING:
    from hearth.accounts import Accounts
    from hearth.store import Store


@contextmanager
def _household(args: argparse.Namespace) -> Iterator[tuple[Store, Accounts]]:
    from hearth.accounts import Accounts
    from hearth.store import Store

    settings = read_settings(args)
    store = Store(settings.db_path)
    accounts = Accounts(store, loopback_only=True)
    try:
        yield store, accounts
    finally:
        store.close()


def _password(args: argparse.Namespace) -> str | None:
    """Ask for a password when --password was given (a line of stdin when it is not a tty)."""
    if not args.password:
        return None
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise HearthError("the two passwords differ; nothing was changed")
    return first


def init(args: argparse.Namespace) -> int:
    with _household(args) as (store, accounts):
        user, token = accounts.init_owner(args.name, _password(args))
        out(f"{user.name} owns this household. Their API token (shown once, keep it):")
        out(token)
    return 0


def add(args: argparse.Namespace) -> int:
    with _household(args) as (store, accounts):
        user, token = accounts.add_member(args.name, _password(args))
        out(f"added {user.name}. Their API token (shown once, give it to them):")
        out(token)
    return 0


def list_users(args: argparse.Namespace) -> int:
    with _household(args) as (store, accounts):
        for u in store.people.list():
            tokens = len(store.tokens.list(u.id))
            out(f"{u.id:>4}  {u.name:<24} {u.role:<7} "
                f"{'password' if u.has_password else 'no password'}, {tokens} token(s)")
    return 0


def remove(args: argparse.Namespace) -> int:
    from hearth.services import People, open_memory

    settings = read_settings(args)
    with _household(args) as (store, accounts):
        user = store.people.get_by_name(args.name)
        # As the API does: their memories leave the index too (no chat model needed).
        memory = open_memory(settings, store) if settings.memory.enabled else None
        try:
            n = People(accounts, memory).remove(user.id)
        finally:
            if memory is not None:
                memory.close()
        out(f"removed {args.name} and their {n} messages")
    return 0


def new_token(args: argparse.Namespace) -> int:
    with _household(args) as (store, accounts):
        _, token = accounts.issue_token(store.people.get_by_name(args.name), args.label)
        out(token)
    return 0


def revoke(args: argparse.Namespace) -> int:
    with _household(args) as (store, accounts):
        n = store.tokens.delete_all(store.people.get_by_name(args.name).id)
        out(f"revoked {n} token(s) and sessions of {args.name}")
    return 0


def set_password(args: argparse.Namespace) -> int:
    with _household(args) as (store, accounts):
        password = _password(argparse.Namespace(password=True))
        accounts.set_password(store.people.get_by_name(args.name), password or "")
        out(f"password of {args.name} set; their web sessions were ended")
    return 0


def register(commands: Commands) -> None:
    actions = add_group(commands, "users",
                        help="the household: owner, members, tokens, passwords")
    for name, handler, text in (
        ("init", init, "create the owner (takes over the local user's data) and print their "
         "first API token"),
        ("add", add, "add a member and print their first API token"),
    ):
        a = add_command(actions, name, handler, help=text)
        a.add_argument("name")
        a.add_argument("--password", action="store_true",
                       help="also set a password for the web client (asked for)")
    add_command(actions, "list", list_users, help="list the household's people")
    add_command(actions, "remove", remove,
                help="remove a member with all their conversations").add_argument("name")
    a = add_command(actions, "token", new_token, help="print a new API token for a user")
    a.add_argument("name")
    a.add_argument("--label", default="api token", help="what the token is for")
    add_command(actions, "revoke", revoke,
                help="revoke every token and session of a user").add_argument("name")
    add_command(actions, "password", set_password,
                help="set a user's password (asked for)").add_argument("name")
