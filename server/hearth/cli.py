"""`hearth`: serve the API, chat in the terminal, manage characters."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from hearth.config import Settings, load_settings
from hearth.errors import HearthError


def out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (default ./hearth.toml)")
    parser.add_argument("--data-dir", type=Path, help="where the database lives (default ./data)")


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="GGUF chat model file")
    parser.add_argument("--n-ctx", type=int, help="context window in tokens")
    parser.add_argument("--gpu-layers", type=int, help="layers to offload to the GPU (-1: all)")


def _settings(args: argparse.Namespace) -> Settings:
    if args.config:
        os.environ["HEARTH_CONFIG"] = str(args.config)
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    server = {k: v for k, v in (("host", getattr(args, "host", None)),
                                ("port", getattr(args, "port", None))) if v is not None}
    llm = {k: v for k, v in (("model_path", getattr(args, "model", None)),
                             ("n_ctx", getattr(args, "n_ctx", None)),
                             ("n_gpu_layers", getattr(args, "gpu_layers", None))) if v is not None}
    if server:
        overrides["server"] = server
    if llm:
        overrides["llm"] = llm
    return load_settings(**overrides)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hearth.api.app import create_app

    settings = _settings(args)
    app = create_app(settings)
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level="info")
    return 0


def chat(args: argparse.Namespace) -> int:
    from hearth.services import Services

    services = Services.start(_settings(args))
    try:
        return asyncio.run(_chat_loop(services, args.character, args.conversation))
    finally:
        services.close()


def _conversation(services: Any, character_name: str | None, conversation_id: int | None) -> Any:
    store, user = services.store, services.user
    if conversation_id is not None:
        return store.get_conversation(conversation_id, user_id=user.id)
    characters = store.list_characters()
    if not characters:
        raise HearthError("no characters yet: `hearth characters import FILE` adds one")
    character = store.find_character(character_name) if character_name else characters[0]
    return services.chat.start_conversation(user, character.id)


async def _chat_loop(services: Any, character_name: str | None, conversation_id: int | None) -> int:
    store, user = services.store, services.user
    conversation = _conversation(services, character_name, conversation_id)
    name = store.get_character(conversation.character_id).name
    out(f"Conversation {conversation.id} with {name}. Ctrl-D or /quit to leave.\n")
    for message in store.list_messages(conversation.id)[-6:]:
        out(f"{name if message.role == 'assistant' else 'You'}: {message.content}")
    try:
        await _typed_turns(services, user, conversation.id, name)
    finally:
        await _settle(services)
    return 0


async def _settle(services: Any) -> None:
    """Let the last turn's memory work finish briefly; what is left is caught up at next start."""
    try:
        await asyncio.wait_for(services.jobs.join(), timeout=15)
    except TimeoutError:
        pass
    await services.jobs.close()


def talk(args: argparse.Namespace) -> int:
    from hearth.services import Services
    from hearth.voice.devices import Microphone, Speaker

    devices = Microphone(), Speaker()  # no sound device: say so before loading any model
    services = Services.start(_settings(args))
    try:
        return asyncio.run(_voice_loop(services, devices, args.character, args.conversation))
    finally:
        services.close()


async def _voice_loop(services: Any, devices: Any, character_name: str | None,
                      conversation_id: int | None) -> int:
    from hearth.voice.local import talk

    conversation = _conversation(services, character_name, conversation_id)
    name = services.store.get_character(conversation.character_id).name
    out(f"Conversation {conversation.id} with {name}, by voice.")
    try:
        await talk(services, devices, services.user, conversation.id, name, out)
    finally:
        await _settle(services)
    return 0


async def _typed_turns(services: Any, user: Any, conversation_id: int, name: str) -> None:
    from hearth.chat import ReplyDelta, TurnFinished

    loop = asyncio.get_running_loop()
    while True:
        try:
            line = await loop.run_in_executor(None, input, "\nYou: ")
        except EOFError:
            out()
            return
        if line.strip() in ("/quit", "/exit"):
            return
        if not line.strip():
            continue
        out(f"{name}: ", end="")
        try:
            async for event in services.chat.send(user, conversation_id, line):
                if isinstance(event, ReplyDelta):
                    out(event.text, end="")
                elif isinstance(event, TurnFinished):
                    out()
        except HearthError as e:
            out(f"\n[{e.message}]")


def characters(args: argparse.Namespace) -> int:
    import json

    from hearth import characters as cards
    from hearth.services import seed_default_character
    from hearth.store import Store

    settings = _settings(args)
    store = Store(settings.db_path)
    seed_default_character(store)
    try:
        if args.action == "list":
            for c in store.list_characters():
                out(f"{c.id:>4}  {c.name}")
        elif args.action == "import":
            raw = Path(args.file).read_bytes()
            card = cards.parse_card(raw, max_bytes=settings.limits.max_card_bytes)
            c = store.create_character(data=card.data, avatar=card.avatar)
            out(f"imported {c.name} as character {c.id}")
        elif args.action == "export":
            c = store.get_character(args.id)
            path = Path(args.file)
            if path.suffix.lower() == ".json":
                path.write_text(json.dumps(cards.to_v3(c.data), ensure_ascii=False, indent=2))
            else:
                path.write_bytes(cards.card_to_png(c.data, store.get_avatar(c.id)))
            out(f"exported {c.name} to {path}")
    finally:
        store.close()
    return 0


def memory(args: argparse.Namespace) -> int:
    from hearth.engines.embed import MiniLMEmbedder
    from hearth.memory.index import MemoryIndex
    from hearth.store import Store

    settings = _settings(args)
    store = Store(settings.db_path)
    embedder = MiniLMEmbedder(settings.memory.embedder_dir)
    index = MemoryIndex(settings.index_path, embedder)
    try:
        if args.action == "reindex":
            from hearth.memory.service import Memory

            # Reindexing embeds and stores; it needs no chat model.
            memory = Memory(store=store, index=index, embedder=embedder, model=None,
                            settings=settings)
            n = memory.reindex()
            out(f"reindexed {n} messages and {index.count() - n} facts and summaries "
                f"into {settings.index_path}")
        else:
            out(f"{index.count()} memories indexed, {len(store.message_ids())} messages stored")
    finally:
        index.close()
        store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth",
        description="Hearth: a self-hosted AI companion. Settings come from ./hearth.toml "
        "(or --config), HEARTH_* environment variables, and these flags, in rising priority.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="start the HTTP API (default 127.0.0.1:8000)")
    _common(p)
    _model_flags(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8000)")
    p.set_defaults(func=serve)

    p = commands.add_parser("chat", help="talk with a character in this terminal")
    _common(p)
    _model_flags(p)
    p.add_argument("--character", help="character name (default: the first one)")
    p.add_argument("--conversation", type=int, help="continue this conversation id")
    p.set_defaults(func=chat)

    p = commands.add_parser("talk", help="talk with a character through the microphone and speaker")
    _common(p)
    _model_flags(p)
    p.add_argument("--character", help="character name (default: the first one)")
    p.add_argument("--conversation", type=int, help="continue this conversation id")
    p.set_defaults(func=talk)

    p = commands.add_parser("characters", help="list, import or export characters")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="list the characters")
    _common(a)
    a = actions.add_parser("import", help="import a card (PNG or JSON, V1/V2/V3)")
    _common(a)
    a.add_argument("file", help="card file")
    a = actions.add_parser("export", help="export a card (.png with V2+V3 chunks, or .json V3)")
    _common(a)
    a.add_argument("id", type=int, help="character id (see `hearth characters list`)")
    a.add_argument("file", help="output file; its suffix (.png or .json) picks the format")
    for a in actions.choices.values():
        a.set_defaults(func=characters)

    p = commands.add_parser("memory", help="the memory index: rebuild it from the database")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("reindex", help="rebuild the whole index from SQLite (safe any time)")
    _common(a)
    a = actions.add_parser("status", help="how many memories are indexed")
    _common(a)
    for a in actions.choices.values():
        a.set_defaults(func=memory)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (HearthError, FileNotFoundError) as e:
        sys.stderr.write(f"hearth: {getattr(e, 'message', e)}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
