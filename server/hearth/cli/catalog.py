"""`hearth models` and `hearth voices`: list, add (checked first) and choose the one in use."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hearth.cli.common import Commands, add_command, add_group, out
from hearth.cli.flags import read_settings
from hearth.config import Settings

if TYPE_CHECKING:
    from hearth.catalog import ModelInfo


def list_models(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = read_settings(args)
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


def add_model(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = read_settings(args)
    info, how = catalog.add_model(settings, args.source, name=args.name,
                                  allow_no_template=args.allow_no_template)
    out(info.describe())
    out(f"added as {info.path}, {how}. Use it: hearth models use {info.name}")
    _note_context(settings, info)
    return 0


def use_model(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = read_settings(args)
    info = catalog.use_model(settings, args.name)
    out(info.describe())
    if settings.llm.backend != "local":
        out(f"llm.backend is {settings.llm.backend!r}: the remote server picks the model; "
            f"Hearth reads only the tokenizer and chat template of {info.name}, from its "
            "next start.")
    else:
        out(f"{info.name} is now the chat model for {settings.data_dir}; a running "
            "server switches to it within seconds, without a restart.")
    _note_context(settings, info)
    return 0


def _note_context(settings: Settings, info: ModelInfo) -> None:
    if info.context_length and info.context_length < settings.llm.n_ctx:
        out(f"Note: it was trained on {info.context_length:,} tokens of context but llm.n_ctx "
            f"is {settings.llm.n_ctx:,}; set llm.n_ctx to {info.context_length} or less.")


def list_voices(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = read_settings(args)
    for v in catalog.list_voices(settings):
        speakers = f"{len(v.speakers)} speakers" if v.speakers else "1 speaker"
        out(f"{'*' if v.name == settings.voice.default_voice else ' '} {v.name:<32} "
            f"{v.language:<6} {v.sample_rate:>6} Hz  {v.quality or '':<7} {speakers}")
    out(f"(* the default voice; folder {settings.voice.voices_dir})")
    return 0


def add_voice(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = read_settings(args)
    info, how = catalog.add_voice(settings, Path(args.file), name=args.name)
    out(f"added voice {info.name} ({info.language}, {info.sample_rate} Hz), {how}. "
        f"Make it the default: hearth voices use {info.name}")
    return 0


def use_voice(args: argparse.Namespace) -> int:
    from hearth import catalog

    settings = read_settings(args)
    info = catalog.use_voice(settings, args.name)
    out(f"{info.name} is now the default voice for {settings.data_dir} (characters "
        "that name no voice); a running server uses it within seconds.")
    return 0


def register(commands: Commands) -> None:
    actions = add_group(
        commands, "models", help="chat models: list, add (checked first), choose the one in use",
        description="Chat models are GGUF files in llm.models_dir (default ./models). `add` "
        "checks a file first (GGUF, an architecture llama.cpp knows, a chat template) and "
        "hard-links it into the folder (copies it from another file system); `use` chooses "
        "the model for this data directory, and a running server switches to it live.")
    add_command(actions, "list", list_models, help="the installed models, with their metadata")
    a = add_command(actions, "add", add_model, help="check a GGUF and install it")
    a.add_argument("source", help="a .gguf file, a URL, or owner/repo:file.gguf on the model "
                   "hub (downloads need internet)")
    a.add_argument("--name", help="install it under this name (default: its file name)")
    a.add_argument("--allow-no-template", action="store_true",
                   help="accept a model without a chat template (ChatML is used instead)")
    a = add_command(actions, "use", use_model,
                    help="make NAME the model in use (a running server switches)")
    a.add_argument("name", help="a name from `hearth models list`")

    actions = add_group(
        commands, "voices", help="Piper voices: list, add (checked first), choose the default",
        description="Voices are Piper NAME.onnx + NAME.onnx.json pairs in voice.voices_dir "
        "(default ./voices). `add` checks both files and hard-links them into the folder; "
        "`use` makes a voice the default for characters that name none.")
    add_command(actions, "list", list_voices, help="the installed voices")
    a = add_command(actions, "add", add_voice, help="check a Piper voice and install it")
    a.add_argument("file", help="the voice's .onnx file (its .onnx.json beside it)")
    a.add_argument("--name", help="install it under this name (default: its file name)")
    a = add_command(actions, "use", use_voice, help="make NAME the default voice")
    a.add_argument("name", help="a name from `hearth voices list`")
