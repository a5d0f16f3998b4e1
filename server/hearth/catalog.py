"""The installed chat models and voices: list them, add one (checked first), choose one.

Chat models are GGUF files in `llm.models_dir`; voices are Piper pairs
(`NAME.onnx` + `NAME.onnx.json`) in `voice.voices_dir`. A file is checked before
it is installed, so one that cannot work is refused and nothing changes: a
GGUF's header is read (architecture, size, context length, quantization, chat
template) and llama.cpp opens its vocabulary; a voice's config is read and its
model opened. A local file is hard-linked into the folder (instant, no second
copy on disk), or copied when it lies on another file system; a URL or a
model-hub name is downloaded first (download.py).

The model and voice chosen with `use` are kept in data_dir/choices.json, which a
running server follows (choices.py).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path

from hearth.choices import write_choice
from hearth.config import Settings
from hearth.download import download, download_name
from hearth.engines.tts import VoiceInfo, check_voice
from hearth.errors import Conflict, HearthError, InvalidInput, NotFound
from hearth.gguf import read_header

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


@dataclass(frozen=True)
class ModelInfo:
    name: str  # the file name without .gguf: what `hearth models use` takes
    path: Path
    title: str  # general.name, as the file calls itself
    architecture: str
    parameters: int
    size_bytes: int
    context_length: int | None
    quantization: str
    chat_template: bool

    def describe(self) -> str:
        ctx = f"{self.context_length:,}" if self.context_length else "unknown"
        template = "yes" if self.chat_template else "NONE (falls back to ChatML)"
        return (f"{self.name}: {self.title or '(no name)'}\n"
                f"  architecture {self.architecture}, {short_count(self.parameters)} parameters, "
                f"{self.quantization}, {self.size_bytes / 2**20:,.0f} MiB\n"
                f"  trained context {ctx} tokens, chat template {template}")


def short_count(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


# -- chat models ---------------------------------------------------------------------


def inspect_model(path: Path) -> ModelInfo:
    """What the GGUF at `path` is; `InvalidInput` if llama.cpp could not run it."""
    from hearth.engines.llm import can_load

    if not path.is_file():
        raise NotFound(f"there is no file {path}")
    header = read_header(path)
    if not header.tensors:
        raise InvalidInput(f"{path.name} holds no weights (a vocabulary-only GGUF); "
                           "pick the model file itself")
    if not can_load(path):
        raise InvalidInput(
            f"llama.cpp (llama-cpp-python {version('llama-cpp-python')}) cannot open "
            f"{path.name}: architecture {header.architecture or '(none)'!r} is likely one "
            "this version does not know. Update llama-cpp-python, or pick another model")
    return ModelInfo(
        name=path.name.removesuffix(".gguf"), path=path,
        title=str(header.metadata.get("general.name", "")), architecture=header.architecture,
        parameters=header.parameters, size_bytes=path.stat().st_size,
        context_length=header.context_length, quantization=header.quantization,
        chat_template=header.chat_template is not None,
    )


def list_models(settings: Settings) -> list[ModelInfo | tuple[Path, str]]:
    """The models in the folder (and the active one if it lies elsewhere), by name; a file
    that cannot be read comes as (path, why)."""
    folder = settings.llm.models_dir
    paths = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    active = settings.llm.model_path
    if active.is_file() and active.resolve() not in {p.resolve() for p in paths}:
        paths.insert(0, active)
    found: list[ModelInfo | tuple[Path, str]] = []
    for path in paths:
        try:
            found.append(inspect_model(path))
        except HearthError as e:
            found.append((path, e.message))
    return found


def add_model(settings: Settings, source: str, *, name: str | None = None,
              allow_no_template: bool = False, progress: bool = True) -> tuple[ModelInfo, str]:
    """Check the GGUF at `source` (a path, a URL, or `owner/repo:file.gguf` on the model
    hub) and put it in the models folder as NAME.gguf. Returns it and how it got there."""
    local = Path(source).expanduser()
    filename = local.name if local.is_file() else download_name(source)
    if filename is None:
        raise NotFound(f"there is no file {local}; give the path of a .gguf file, a URL, "
                       "or owner/repo:file.gguf")
    folder = settings.llm.models_dir
    dest = folder / f"{_checked_name(name or filename.removesuffix('.gguf'), 'model')}.gguf"
    if dest.exists():
        raise Conflict(f"a model named {dest.stem!r} is already installed ({dest}); "
                       "pass --name to add this one under another name")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".adding-") as tmp:
        staged = local if local.is_file() else download(source, Path(tmp), progress=progress)
        info = inspect_model(staged)
        if not info.chat_template and not allow_no_template:
            raise InvalidInput(
                f"{filename} has no chat template: it is most likely a base model, not a "
                "chat model, and Hearth would format turns as ChatML, which it may not "
                "understand. Pick an instruct/chat GGUF, or pass --allow-no-template")
        how = _put(staged, dest, move=staged != local)
    return replace(info, name=dest.stem, path=dest), how


def use_model(settings: Settings, name: str) -> ModelInfo:
    """Choose the model NAME of the models folder for this data directory."""
    path = _find(settings.llm.models_dir, name.removesuffix(".gguf") + ".gguf", "model",
                 [p.stem for p in sorted(settings.llm.models_dir.glob("*.gguf"))])
    info = inspect_model(path)
    write_choice(settings.data_dir, "llm", "model_path", str(path.resolve()))
    return info


# -- voices --------------------------------------------------------------------------


def list_voices(settings: Settings) -> list[VoiceInfo]:
    from hearth.engines.tts import PiperSynthesizer

    return PiperSynthesizer(settings.voice.voices_dir).voices()


def add_voice(settings: Settings, source: Path, *, name: str | None = None
              ) -> tuple[VoiceInfo, str]:
    """Check the Piper voice `source` (NAME.onnx, with NAME.onnx.json beside it) and put
    both files in the voices folder."""
    model = source.expanduser()
    if model.name.endswith(".onnx.json"):
        model = model.with_name(model.name.removesuffix(".json"))
    if not model.is_file():
        raise NotFound(f"there is no file {model}; give the voice's .onnx file "
                       "(its .onnx.json beside it)")
    config = model.with_name(model.name + ".json")
    info = check_voice(model, config)
    folder = settings.voice.voices_dir
    stem = _checked_name(name or model.name.removesuffix(".onnx"), "voice")
    dest = folder / f"{stem}.onnx"
    if dest.exists() or dest.with_name(dest.name + ".json").exists():
        raise Conflict(f"a voice named {stem!r} is already installed; pass --name")
    folder.mkdir(parents=True, exist_ok=True)
    _put(config, dest.with_name(dest.name + ".json"), move=False)
    how = _put(model, dest, move=False)
    return VoiceInfo(stem, info.sample_rate, info.language, info.quality, info.speakers), how


def use_voice(settings: Settings, name: str) -> VoiceInfo:
    """Make NAME the voice of characters that name none, for this data directory."""
    voices = {v.name: v for v in list_voices(settings)}
    if name not in voices:
        available = ", ".join(voices) or f"none in {settings.voice.voices_dir}"
        raise NotFound(f"there is no voice {name!r}; installed voices: {available}")
    write_choice(settings.data_dir, "voice", "default_voice", name)
    return voices[name]


# -- files ---------------------------------------------------------------------------


def _checked_name(name: str, what: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(f"{name!r} cannot name a {what}: use letters, digits and . _ + - "
                           "(pass --name)")
    return name


def _find(folder: Path, filename: str, what: str, names: list[str]) -> Path:
    path = folder / filename
    if not (_NAME.fullmatch(filename) and ".." not in filename and path.is_file()):
        raise NotFound(f"there is no {what} {filename!r} in {folder}; installed: "
                       f"{', '.join(names) or 'none'} (`hearth {what}s add` adds one)")
    return path


def _put(source: Path, dest: Path, *, move: bool) -> str:
    """Place `source` at `dest` whole or not at all; say how."""
    if move:
        os.replace(source, dest)
        return "downloaded"
    try:
        os.link(source, dest)
        return f"hard-linked from {source} (no second copy on disk)"
    except OSError:
        partial = dest.with_name(f".{dest.name}.partial")
        shutil.copyfile(source, partial)
        os.replace(partial, dest)
        return f"copied from {source}"
