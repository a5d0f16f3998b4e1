"""`hearth chat` and `hearth talk`: a conversation in the terminal, typed or spoken."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from hearth.cli.common import Commands, add_command, out
from hearth.cli.flags import read_settings
from hearth.errors import HearthError

if TYPE_CHECKING:  # imported when a command runs: `hearth --help` stays quick
    from hearth.services import Services
    from hearth.store import Conversation, User
    from hearth.voice.devices import Microphone, Speaker


def chat(args: argparse.Namespace) -> int:
    from hearth.services import Services

    services = Services.start(read_settings(args))
    try:
        return asyncio.run(_chat_loop(services, _user(services, args.user), args.character,
                                      args.conversation))
    finally:
        services.close()


def talk(args: argparse.Namespace) -> int:
    from hearth.services import Services
    from hearth.voice.devices import Microphone, Speaker

    devices = Microphone(), Speaker()  # no sound device: say so before loading any model
    services = Services.start(read_settings(args))
    try:
        return asyncio.run(_voice_loop(services, devices, _user(services, args.user),
                                       args.character, args.conversation))
    finally:
        services.close()


def _user(services: Services, name: str | None) -> User:
    return services.store.people.get_by_name(name) if name else services.user


def _conversation(services: Services, user: User, character_name: str | None,
                  conversation_id: int | None) -> Conversation:
    store = services.store
    if conversation_id is not None:
        return store.conversations.get(conversation_id, user_id=user.id)
    characters = store.characters.list()
    if not characters:
        raise HearthError("no characters yet: `hearth characters import FILE` adds one")
    character = store.characters.get_by_name(character_name) if character_name else characters[0]
    return services.chat.start_conversation(user, character.id)


async def _chat_loop(services: Services, user: User, character_name: str | None,
                     conversation_id: int | None) -> int:
    store = services.store
    conversation = _conversation(services, user, character_name, conversation_id)
    name = store.characters.get(conversation.character_id).name
    out(f"Conversation {conversation.id} with {name}. Ctrl-D or /quit to leave.\n")
    for message in store.messages.list(conversation.id)[-6:]:
        out(f"{name if message.role == 'assistant' else 'You'}: {message.content}")
    try:
        async with _schedule(services):
            await _typed_turns(services, user, conversation.id, name)
    finally:
        await _settle(services)
    return 0


@asynccontextmanager
async def _schedule(services: Services) -> AsyncIterator[None]:
    """Let the character write first while the terminal is open (unless `hearth serve`
    on the same data already does: one process runs the schedule at a time)."""
    task = None
    if services.settings.relationship.enabled:
        task = asyncio.create_task(services.outreach.run())
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _settle(services: Services) -> None:
    """Let the last turn's memory work finish briefly; what is left is caught up at next start."""
    try:
        await asyncio.wait_for(services.jobs.join(), timeout=15)
    except TimeoutError:
        pass
    await services.jobs.close()


async def _voice_loop(services: Services, devices: tuple[Microphone, Speaker], user: User,
                      character_name: str | None, conversation_id: int | None) -> int:
    from hearth.voice.local import talk

    conversation = _conversation(services, user, character_name, conversation_id)
    name = services.store.characters.get(conversation.character_id).name
    out(f"Conversation {conversation.id} with {name}, by voice.")
    try:
        async with _schedule(services):
            await talk(services, devices, user, conversation.id, name, out)
    finally:
        await _settle(services)
    return 0


class _Screen:
    """The terminal, shared by the typed turns and the messages the character starts."""

    PROMPT = "You: "

    def __init__(self) -> None:
        self.busy = asyncio.Lock()  # held while a reply is being written
        self.prompting = False  # the prompt is shown and input() waits


async def _typed_turns(services: Services, user: User, conversation_id: int, name: str) -> None:
    from hearth.chat import ReplyDelta, TurnFinished

    loop = asyncio.get_running_loop()
    screen = _Screen()
    shown = asyncio.create_task(_show_started(services, user, conversation_id, name, screen))
    try:
        while True:
            out()
            screen.prompting = True
            try:
                line = await loop.run_in_executor(None, input, screen.PROMPT)
            except EOFError:
                out()
                return
            finally:
                screen.prompting = False
            if line.strip() in ("/quit", "/exit"):
                return
            if not line.strip():
                continue
            async with screen.busy:
                out(f"{name}: ", end="")
                try:
                    async for event in services.chat.send(user, conversation_id, line):
                        if isinstance(event, ReplyDelta):
                            out(event.text, end="")
                        elif isinstance(event, TurnFinished):
                            out()
                except HearthError as e:
                    out(f"\n[{e.message}]")
    finally:
        shown.cancel()
        await asyncio.gather(shown, return_exceptions=True)


async def _show_started(services: Services, user: User, conversation_id: int, name: str,
                        screen: _Screen) -> None:
    """Write each message the character starts in this conversation as it comes: after
    the reply being written, if any; over the prompt, then the prompt again (what was
    typed so far is still taken, though no longer shown)."""
    from hearth.feed import started_by_character

    async with services.feed.subscribe(user.id) as stored:
        async for message in stored:
            if message.conversation_id != conversation_id or not started_by_character(message):
                continue
            async with screen.busy:
                waiting = screen.prompting
                if waiting:
                    out("\r" + " " * len(screen.PROMPT) + "\r", end="")  # the prompt's line
                out(f"{name}: {message.content}")
                if waiting:
                    out("\n" + screen.PROMPT, end="")


def _who_and_where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--character", help="character name (default: the first one)")
    parser.add_argument("--conversation", type=int, help="continue this conversation id")
    parser.add_argument("--user", help="who is talking (default: the owner)")


def register(commands: Commands) -> None:
    _who_and_where(add_command(commands, "chat", chat,
                               help="talk with a character in this terminal"))
    _who_and_where(add_command(commands, "talk", talk, help="talk with a character through "
                               "the microphone and speaker"))
