"""`hearth me`: the person's profile: the name characters use, persona, time zone, language.

Without --user it is the local user's (the owner's once there are accounts); the owner,
who runs this on the server's box, sets a member's with --user NAME.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hearth.cli.common import Commands, add_command, add_group, out
from hearth.cli.users import _household

if TYPE_CHECKING:
    from hearth.accounts import Accounts
    from hearth.store import Store, User


def _person(store: Store, accounts: Accounts, name: str | None) -> User:
    return store.people.get_by_name(name) if name else accounts.local_user()


def _show(user: User) -> None:
    out(f"name:          {user.name}")
    out(f"display name:  {user.display_name or '(not set: characters say ' + user.name + ')'}")
    out(f"pronouns:      {user.pronouns or '(not set)'}")
    zone_note = "" if user.timezone else " (the server's zone)"
    out(f"time zone:     {user.zone.key}{zone_note}")
    out(f"language:      {user.lang}{'' if user.language else ' (default)'}")
    out(f"reach out:     {'on' if user.reach_out else 'off'}")
    out(f"persona:       {user.persona or '(not set)'}")


def show(args: argparse.Namespace) -> int:
    with _household(args) as (store, accounts):
        _show(_person(store, accounts, args.user))
    return 0


def set_profile(args: argparse.Namespace) -> int:
    from hearth.relationship.profile import ProfileFields, check

    fields = ProfileFields(
        display_name=args.display_name, pronouns=args.pronouns, persona=args.persona,
        timezone=args.timezone, language=args.language,
        reach_out=None if args.reach_out is None else args.reach_out == "on")
    checked = check(fields)  # all or nothing: a bad field changes none
    with _household(args) as (store, accounts):
        user = _person(store, accounts, args.user)
        _show(store.people.set_profile(user.id, **checked))
    return 0


def register(commands: Commands) -> None:
    actions = add_group(commands, "me", help="your profile: display name, persona, time zone, "
                        "language (the owner: anyone's, with --user)")
    a = add_command(actions, "show", show, help="show the profile")
    a.add_argument("--user", help="whose (default: the owner, or the single local user)")
    a = add_command(actions, "set", set_profile,
                    help="set fields of the profile ('' clears one)")
    a.add_argument("--user", help="whose (default: the owner, or the single local user)")
    a.add_argument("--display-name", help="what characters call you")
    a.add_argument("--pronouns", help="e.g. she/her")
    a.add_argument("--persona", help="a short description of yourself, given to characters")
    a.add_argument("--timezone", help="IANA name, e.g. Asia/Seoul ('' = the server's)")
    a.add_argument("--language", help="BCP-47 tag, e.g. ko or pt-BR ('' = English)")
    a.add_argument("--reach-out", choices=("on", "off"),
                   help="whether characters may start a conversation with you")
