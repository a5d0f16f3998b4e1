"""Command-line flags generated from the settings model, and the settings they give.

Every field SECTION.FIELD of `Settings` is a flag `--SECTION.FIELD` with hyphens for
underscores (`[llm] n_ctx` is `--llm.n-ctx`, as HEARTH_LLM__N_CTX is in the environment);
top-level fields drop the section (`--data-dir`). The field's description is the help
text and its type and bounds check the value. A few settings keep the short flags they
always had (`--host`, `--port`, `--model`, `--n-ctx`, `--gpu-layers`).
"""

from __future__ import annotations

import argparse
import functools
import os
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from hearth.config import Settings, load_settings
from hearth.errors import InvalidInput

# The short flags these settings always had; README, scripts and tests use them.
SHORT_FLAGS = {
    "server.host": "--host",
    "server.port": "--port",
    "llm.model_path": "--model",
    "llm.n_ctx": "--n-ctx",
    "llm.n_gpu_layers": "--gpu-layers",
}

SCHEME = (
    "Every setting is a flag: [SECTION] FIELD of hearth.toml (HEARTH_SECTION__FIELD in the "
    "environment) is --SECTION.FIELD, with hyphens for underscores, e.g. --llm.n-ctx 2048 or "
    "--voice.default-voice NAME; data_dir is --data-dir. A flag wins over the environment, "
    "the TOML file and the model and voice chosen with `hearth models/voices use`."
)


@dataclass(frozen=True)
class SettingFlag:
    """One settings field as a command-line flag."""

    section: str | None  # None: a top-level field such as data_dir
    field: str
    info: FieldInfo

    @property
    def dest(self) -> str:
        return f"{self.section}.{self.field}" if self.section else self.field

    @property
    def flags(self) -> list[str]:
        long = "--" + self.dest.replace("_", "-")
        short = SHORT_FLAGS.get(self.dest)
        return [short, long] if short else [long]


@functools.cache
def setting_flags() -> tuple[SettingFlag, ...]:
    """Every field of `Settings`, section by section, in the order the model declares them."""
    found: list[SettingFlag] = []
    for name, info in Settings.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            found += [SettingFlag(name, field, sub) for field, sub in section.model_fields.items()]
        else:
            found.append(SettingFlag(None, name, info))
    return tuple(found)


class HelpFormatter(argparse.HelpFormatter):
    """Shows the settings flags as one `[--SECTION.FIELD VALUE]` in the usage line; the help
    lists each in the settings group."""

    _any_setting = argparse.Action(["--SECTION.FIELD"], dest="setting", metavar="VALUE")

    def add_usage(self, usage: str | None, actions: Iterable[argparse.Action],
                  groups: Iterable[argparse._MutuallyExclusiveGroup],
                  prefix: str | None = None) -> None:
        dests = {flag.dest for flag in setting_flags()}
        shown = [a for a in actions if a.dest not in dests]
        at = next((i + 1 for i, a in enumerate(shown) if a.dest == "config"), len(shown))
        super().add_usage(usage, [*shown[:at], self._any_setting, *shown[at:]], groups, prefix)


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """--config and a flag for every setting, in their own group of the command's help."""
    group = parser.add_argument_group("settings", SCHEME)
    group.add_argument("--config", type=Path, metavar="FILE",
                       help="TOML settings file (default ./hearth.toml; env HEARTH_CONFIG)")
    for flags, options in _arguments():
        group.add_argument(*flags, **options)


@functools.cache
def _arguments() -> tuple[tuple[list[str], dict[str, Any]], ...]:
    """add_argument's arguments for each setting, worked out once for all commands."""
    found = []
    for flag in setting_flags():
        annotation = flag.info.annotation
        many = typing.get_origin(annotation) is list  # e.g. server.cors_origins
        item = typing.get_args(annotation)[0] if many else annotation
        found.append((flag.flags, {
            "dest": flag.dest, "default": argparse.SUPPRESS, "nargs": "*" if many else None,
            "type": _checker(item, () if many else tuple(flag.info.metadata)),
            "metavar": _metavar(item), "help": (flag.info.description or "").replace("%", "%%"),
        }))
    return tuple(found)


def read_settings(args: argparse.Namespace) -> Settings:
    """The settings, with the flags given on the command line winning over every other source."""
    if args.config:
        os.environ["HEARTH_CONFIG"] = str(args.config)
    overrides: dict[str, Any] = {}
    for flag in setting_flags():
        if not hasattr(args, flag.dest):
            continue
        value = getattr(args, flag.dest)
        if flag.section is None:
            overrides[flag.field] = value
        else:
            overrides.setdefault(flag.section, {})[flag.field] = value
    try:
        return load_settings(**overrides)
    except ValidationError as e:  # a value from the file or the environment, or two that clash
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'settings'}: {err['msg']}"
                             for err in e.errors())
        raise InvalidInput(f"the settings are not usable ({problems}); fix hearth.toml, the "
                           "HEARTH_* variable or the flag") from None


def _checker(annotation: Any, constraints: tuple[Any, ...]) -> Callable[[str], Any]:
    """An argparse `type`: the text as the field's type, within the field's bounds."""
    adapter: TypeAdapter[Any] | None = None

    def check(text: str) -> Any:
        nonlocal adapter
        if adapter is None:  # built on first use: most flags are never given
            adapter = TypeAdapter(Annotated[annotation, *constraints] if constraints
                                  else annotation)
        try:
            return adapter.validate_python(text)
        except ValidationError as e:
            raise argparse.ArgumentTypeError(f"{text!r}: {e.errors()[0]['msg']}") from None

    return check


def _metavar(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return "{" + ",".join(map(str, args)) + "}"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _metavar(args[0])
    names = {bool: "{true,false}", int: "N", float: "X", Path: "PATH"}
    return names.get(annotation, "TEXT")
