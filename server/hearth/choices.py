"""The chat model and default voice in use: the two settings that `hearth models use` and
`hearth voices use` change on a running server. Every other setting is fixed at start-up.

A choice is recorded in data_dir/choices.json, a settings layer (see config.py), so the
next start reads it too. A running server looks at the file every two seconds
(`follow_choices`) and switches without a restart. What it uses now is `Services.choices`,
a frozen `Choices` that only the follower replaces, whole: read it at the moment of use.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hearth.config import CHOICES_FILE, Settings, read_choices

if TYPE_CHECKING:
    from hearth.services import Services

log = logging.getLogger(__name__)

WATCH_SECONDS = 2.0  # how often a running server looks for a new choice (one small read)


@dataclass(frozen=True)
class Choices:
    """The chat model and the voice of characters that name none, as used right now."""

    model_path: Path
    default_voice: str

    @classmethod
    def of(cls, settings: Settings) -> Choices:
        """The choices a server starts with (choices.json is already a layer of `settings`)."""
        return cls(settings.llm.model_path, settings.voice.default_voice)


def write_choice(data_dir: Path, section: str, key: str, value: Any) -> None:
    """Record a choice in data_dir/choices.json (written whole: a server never reads half)."""
    choices = read_choices(data_dir)
    choices.setdefault(section, {})[key] = value
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / f".{CHOICES_FILE}.partial"
    partial.write_text(json.dumps(choices, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, data_dir / CHOICES_FILE)


async def follow_choices(services: Services, *, every: float = WATCH_SECONDS) -> None:
    """Switch the running server's model and default voice when `use` chooses others.

    Costs one small file read every `every` seconds. Runs until cancelled.
    """
    data_dir = services.settings.data_dir
    seen = await asyncio.to_thread(read_choices, data_dir)
    while True:
        await asyncio.sleep(every)
        now = await asyncio.to_thread(read_choices, data_dir)
        if now == seen:
            continue
        model = now.get("llm", {}).get("model_path")
        current = services.choices.model_path
        if model is not None and Path(model).resolve() != current.resolve():
            try:
                await switch_model(services, Path(model))
            except Exception:  # noqa: BLE001 - the old model keeps serving
                log.exception("could not switch to the model %s; keeping %s", model, current)
        voice = now.get("voice", {}).get("default_voice")
        if voice is not None and voice != services.choices.default_voice:
            log.info("default voice is now %s", voice)
            services.choices = replace(services.choices, default_voice=voice)
        seen = now


async def switch_model(services: Services, path: Path) -> None:
    """Load the model at `path` beside the current one, then swap it in between two
    generations. Conversations' parked caches belong to the old model and go with it."""
    from hearth.engines.llm import load_model

    llm = services.settings.llm
    if llm.backend != "local":
        log.warning("llm.backend is %r: the model is the remote server's, so %s is not "
                    "loaded here", llm.backend, path.name)
        return
    log.info("loading chat model %s (the current one serves meanwhile)", path)
    model = await asyncio.to_thread(load_model, llm.model_copy(update={"model_path": path}))
    old = await asyncio.to_thread(services.model.swap, model)
    services.choices = replace(services.choices, model_path=path)
    del old
    gc.collect()  # free the old weights now, not at some later collection
    log.info("chat model is now %s (%d-token window)", path.name, services.model.n_ctx)
