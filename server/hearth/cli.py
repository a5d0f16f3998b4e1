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
    _check_exposure(settings)
    app = create_app(settings)
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level="info")
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


def users(args: argparse.Namespace) -> int:
    from hearth.accounts import Accounts
    from hearth.store import Store

    settings = _settings(args)
    store = Store(settings.db_path)
    accounts = Accounts(store, loopback_only=True)
    try:
        if args.action == "init":
            user, token = accounts.init_owner(args.name, _password(args))
            out(f"{user.name} owns this household. Their API token (shown once, keep it):")
            out(token)
        elif args.action == "add":
            user, token = accounts.add_member(args.name, _password(args))
            out(f"added {user.name}. Their API token (shown once, give it to them):")
            out(token)
        elif args.action == "list":
            for u in store.list_users():
                tokens = len(store.list_tokens(u.id))
                out(f"{u.id:>4}  {u.name:<24} {u.role:<7} "
                    f"{'password' if u.has_password else 'no password'}, {tokens} token(s)")
        elif args.action == "remove":
            n = _remove_user(settings, accounts, store.find_user(args.name).id)
            out(f"removed {args.name} and their {n} messages")
        elif args.action == "token":
            _, token = accounts.issue_token(store.find_user(args.name), args.label)
            out(token)
        elif args.action == "revoke":
            n = store.delete_tokens(store.find_user(args.name).id)
            out(f"revoked {n} token(s) and sessions of {args.name}")
        elif args.action == "password":
            password = _password(argparse.Namespace(password=True))
            accounts.set_password(store.find_user(args.name), password or "")
            out(f"password of {args.name} set; their web sessions were ended")
    finally:
        store.close()
    return 0


def _remove_user(settings: Settings, accounts: Any, user_id: int) -> int:
    """The API's removal: their memories leave the index too (no chat model needed)."""
    from hearth.services import People, open_memory

    memory = open_memory(settings, accounts.store) if settings.memory.enabled else None
    try:
        return People(accounts, memory).remove(user_id)
    finally:
        if memory is not None:
            memory.index.close()


def chat(args: argparse.Namespace) -> int:
    from hearth.services import Services

    services = Services.start(_settings(args))
    try:
        return asyncio.run(_chat_loop(services, _user(services, args.user), args.character,
                                      args.conversation))
    finally:
        services.close()


def _user(services: Any, name: str | None) -> Any:
    return services.store.find_user(name) if name else services.user


def _conversation(services: Any, user: Any, character_name: str | None,
                  conversation_id: int | None) -> Any:
    store = services.store
    if conversation_id is not None:
        return store.get_conversation(conversation_id, user_id=user.id)
    characters = store.list_characters()
    if not characters:
        raise HearthError("no characters yet: `hearth characters import FILE` adds one")
    character = store.find_character(character_name) if character_name else characters[0]
    return services.chat.start_conversation(user, character.id)


async def _chat_loop(services: Any, user: Any, character_name: str | None,
                     conversation_id: int | None) -> int:
    store = services.store
    conversation = _conversation(services, user, character_name, conversation_id)
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
        return asyncio.run(_voice_loop(services, devices, _user(services, args.user),
                                       args.character, args.conversation))
    finally:
        services.close()


async def _voice_loop(services: Any, devices: Any, user: Any, character_name: str | None,
                      conversation_id: int | None) -> int:
    from hearth.voice.local import talk

    conversation = _conversation(services, user, character_name, conversation_id)
    name = services.store.get_character(conversation.character_id).name
    out(f"Conversation {conversation.id} with {name}, by voice.")
    try:
        await talk(services, devices, user, conversation.id, name, out)
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
    from hearth.services import Characters, seed_default_character
    from hearth.store import Store

    settings = _settings(args)
    store = Store(settings.db_path)
    seed_default_character(store)
    service = Characters(store, None, settings)  # nothing here touches the memory index
    try:
        if args.action == "list":
            for c in service.all():
                out(f"{c.id:>4}  {c.name}")
        elif args.action == "import":
            c = service.import_card(Path(args.file).read_bytes())
            out(f"imported {c.name} as character {c.id}")
        elif args.action == "export":
            path = Path(args.file)
            card = service.export(args.id, "json" if path.suffix.lower() == ".json" else "png")
            path.write_bytes(card.content)
            out(f"exported {card.character.name} to {path}")
    finally:
        store.close()
    return 0


def memory(args: argparse.Namespace) -> int:
    from hearth.services import open_memory
    from hearth.store import Store

    settings = _settings(args)
    store = Store(settings.db_path)
    memory = open_memory(settings, store)  # reindexing embeds and stores: no chat model
    index = memory.index
    try:
        if args.action == "reindex":
            n = memory.reindex()
            out(f"reindexed {n} messages and {index.count() - n} facts and summaries "
                f"into {settings.memory.chroma_url or settings.index_path}")
        else:
            from hearth.memory.service import database_generation

            out(f"{index.count()} memories indexed, {len(store.message_ids())} messages stored")
            stamp = index.stamp()
            if not stamp.complete or stamp.generation != database_generation(store):
                out("The index was built from other data (a restore since, or a rebuild cut "
                    "short): the server rebuilds it, or `hearth memory reindex` now.")
    finally:
        index.close()
        store.close()
    return 0


# -- backup, restore, export -----------------------------------------------------------


def backup(args: argparse.Namespace) -> int:
    from hearth import backup as backups

    settings = _settings(args)
    snap = backups.backup(settings.db_path, Path(args.file), force=args.force)
    out(f"backed up {snap.users} users, {snap.conversations} conversations and {snap.messages} "
        f"messages to {snap.path} (integrity checked). The memory index is not in it: a "
        "restore rebuilds it from the database.")
    return 0


def restore(args: argparse.Namespace) -> int:
    from hearth import backup as backups

    settings = _settings(args)
    restored = backups.restore(settings.db_path, Path(args.file),
                               keep_previous=not args.no_keep)
    snap = restored.snapshot
    out(f"restored {snap.users} users, {snap.conversations} conversations and {snap.messages} "
        f"messages from {args.file}.")
    if restored.previous is not None:
        out(f"The data it replaced is kept in {restored.previous}.")
    out("The memory index is rebuilt from the restored data by a running server within "
        "seconds, or when Hearth next starts (`hearth memory reindex` does it now, when no "
        "server runs).")
    return 0


def export(args: argparse.Namespace) -> int:
    from hearth.backup import export_user
    from hearth.store import Store

    settings = _settings(args)
    dest = None if args.file == "-" else Path(args.file)
    if dest is not None and dest.exists() and not args.force:
        raise HearthError(f"{dest} already exists; choose another file, or pass --force")
    if not settings.db_path.is_file():
        raise HearthError(f"there is no database at {settings.db_path}; check --data-dir")
    store = Store(settings.db_path)
    try:
        text = export_user(store, args.user).model_dump_json(indent=2)
    finally:
        store.close()
    if dest is None:
        out(text)
    else:
        dest.write_text(text + "\n", encoding="utf-8")
        sys.stderr.write(f"exported {args.user}'s data to {dest}\n")
    return 0


# -- models and voices ------------------------------------------------------------------


def models(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = _settings(args)
    if args.action == "list":
        for item in catalog.list_models(settings):
            if isinstance(item, tuple):
                out(f"  {item[0].name}: cannot be used: {item[1]}")
                continue
            active = item.path.resolve() == settings.llm.model_path.resolve()
            ctx = f"{item.context_length:,}" if item.context_length else "?"
            out(f"{'*' if active else ' '} {item.name:<36} {item.architecture:<10} "
                f"{catalog.short_count(item.parameters):>6} {item.quantization:<7} "
                f"{item.size_bytes / 2**20:>7,.0f} MiB  context {ctx:>7}  "
                f"template {'yes' if item.chat_template else 'NO'}")
        out(f"(* the model in use; folder {settings.llm.models_dir})")
        return 0
    if args.action == "add":
        info, how = catalog.add_model(settings, args.source, name=args.name,
                                      allow_no_template=args.allow_no_template)
        out(info.describe())
        out(f"added as {info.path}, {how}. Use it: hearth models use {info.name}")
    else:
        info = catalog.use_model(settings, args.name)
        out(info.describe())
        if settings.llm.backend != "local":
            out(f"llm.backend is {settings.llm.backend!r}: the remote server picks the model; "
                f"Hearth reads only the tokenizer and chat template of {info.name}, from its "
                "next start.")
        else:
            out(f"{info.name} is now the chat model for {settings.data_dir}; a running "
                "server switches to it within seconds, without a restart.")
    if info.context_length and info.context_length < settings.llm.n_ctx:
        out(f"Note: it was trained on {info.context_length:,} tokens of context but llm.n_ctx "
            f"is {settings.llm.n_ctx:,}; set llm.n_ctx to {info.context_length} or less.")
    return 0


def voices(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = _settings(args)
    if args.action == "list":
        for v in catalog.list_voices(settings):
            speakers = f"{len(v.speakers)} speakers" if v.speakers else "1 speaker"
            out(f"{'*' if v.name == settings.voice.default_voice else ' '} {v.name:<32} "
                f"{v.language:<6} {v.sample_rate:>6} Hz  {v.quality or '':<7} {speakers}")
        out(f"(* the default voice; folder {settings.voice.voices_dir})")
        return 0
    if args.action == "add":
        info, how = catalog.add_voice(settings, Path(args.file), name=args.name)
        out(f"added voice {info.name} ({info.language}, {info.sample_rate} Hz), {how}. "
            f"Make it the default: hearth voices use {info.name}")
    else:
        info = catalog.use_voice(settings, args.name)
        out(f"{info.name} is now the default voice for {settings.data_dir} (characters "
            "that name no voice); a running server uses it within seconds.")
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
    p.add_argument("--user", help="who is talking (default: the owner)")
    p.set_defaults(func=chat)

    p = commands.add_parser("talk", help="talk with a character through the microphone and speaker")
    _common(p)
    _model_flags(p)
    p.add_argument("--character", help="character name (default: the first one)")
    p.add_argument("--conversation", type=int, help="continue this conversation id")
    p.add_argument("--user", help="who is talking (default: the owner)")
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

    p = commands.add_parser("users", help="the household: owner, members, tokens, passwords")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("init", help="create the owner (takes over the local user's data) "
                           "and print their first API token")
    a.add_argument("name")
    a = actions.add_parser("add", help="add a member and print their first API token")
    a.add_argument("name")
    for a in actions.choices.values():
        a.add_argument("--password", action="store_true",
                       help="also set a password for the web client (asked for)")
    a = actions.add_parser("list", help="list the household's people")
    a = actions.add_parser("remove", help="remove a member with all their conversations")
    a.add_argument("name")
    a = actions.add_parser("token", help="print a new API token for a user")
    a.add_argument("name")
    a.add_argument("--label", default="api token", help="what the token is for")
    a = actions.add_parser("revoke", help="revoke every token and session of a user")
    a.add_argument("name")
    a = actions.add_parser("password", help="set a user's password (asked for)")
    a.add_argument("name")
    for a in actions.choices.values():
        _common(a)
        a.set_defaults(func=users)

    p = commands.add_parser("memory", help="the memory index: rebuild it from the database")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("reindex", help="rebuild the whole index from SQLite (safe any time)")
    _common(a)
    a = actions.add_parser("status", help="how many memories are indexed")
    _common(a)
    for a in actions.choices.values():
        a.set_defaults(func=memory)

    p = commands.add_parser(
        "backup", help="copy the database to FILE, safely while the server runs",
        description="Copy the database to FILE as one consistent snapshot (SQLite's online "
        "backup), safe while the server runs and writes, and check the copy. The memory index "
        "is not copied: its files are not consistent while written, and a restore rebuilds it "
        "from the database.")
    _common(p)
    p.add_argument("file", help="the backup file to write")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=backup)

    p = commands.add_parser(
        "restore", help="replace all data with a backup, safely while the server runs",
        description="Replace every user's data with the backup FILE. FILE is checked first "
        "(integrity, Hearth tables); a file that fails changes nothing. The data is copied "
        "into the live database in one transaction, so a running server switches over "
        "at once; the data it replaces is first kept beside the database. The memory index "
        "is rebuilt from the restored data: by a running server within seconds, otherwise "
        "at the next start.")
    _common(p)
    p.add_argument("file", help="a file made by `hearth backup`")
    p.add_argument("--no-keep", action="store_true",
                   help="do not keep a copy of the data being replaced")
    p.set_defaults(func=restore)

    p = commands.add_parser(
        "export", help="write one person's data as JSON",
        description="Write one user's conversations (every message, with alternatives), "
        "rolling summaries, facts, and the characters they talked with, as JSON. Nothing of "
        "any other user, and no password hashes or tokens.")
    _common(p)
    p.add_argument("--user", required=True, help="whose data (`hearth users list`)")
    p.add_argument("file", nargs="?", default="-", help="output file, or - for stdout (default)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=export)

    p = commands.add_parser(
        "models", help="chat models: list, add (checked first), choose the one in use",
        description="Chat models are GGUF files in llm.models_dir (default ./models). `add` "
        "checks a file first (GGUF, an architecture llama.cpp knows, a chat template) and "
        "hard-links it into the folder (copies it from another file system); `use` chooses "
        "the model for this data directory, and a running server switches to it live.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="the installed models, with their metadata")
    a = actions.add_parser("add", help="check a GGUF and install it")
    a.add_argument("source", help="a .gguf file, a URL, or owner/repo:file.gguf on the model "
                   "hub (downloads need internet)")
    a.add_argument("--name", help="install it under this name (default: its file name)")
    a.add_argument("--allow-no-template", action="store_true",
                   help="accept a model without a chat template (ChatML is used instead)")
    a = actions.add_parser("use", help="make NAME the model in use (a running server switches)")
    a.add_argument("name", help="a name from `hearth models list`")
    for a in actions.choices.values():
        _common(a)
        a.set_defaults(func=models)

    p = commands.add_parser(
        "voices", help="Piper voices: list, add (checked first), choose the default",
        description="Voices are Piper NAME.onnx + NAME.onnx.json pairs in voice.voices_dir "
        "(default ./voices). `add` checks both files and hard-links them into the folder; "
        "`use` makes a voice the default for characters that name none.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="the installed voices")
    a = actions.add_parser("add", help="check a Piper voice and install it")
    a.add_argument("file", help="the voice's .onnx file (its .onnx.json beside it)")
    a.add_argument("--name", help="install it under this name (default: its file name)")
    a = actions.add_parser("use", help="make NAME the default voice")
    a.add_argument("name", help="a name from `hearth voices list`")
    for a in actions.choices.values():
        _common(a)
        a.set_defaults(func=voices)
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
