"""The household's characters: cards in and out, avatars, and forgetting a deleted one."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hearth import characters as cards
from hearth.card_checks import describe_size
from hearth.config import Settings
from hearth.engines.tts import Synthesizer
from hearth.engines.voices import load_voices
from hearth.errors import InvalidInput, NotFound, TooLarge
from hearth.memory.service import Memory
from hearth.store import Character, Store

CardFormat = Literal["png", "json"]
MAX_NAME_CHARS = 200  # as the card editor's name field


@dataclass(frozen=True)
class CardFile:
    """An exported card: V3 JSON, or a PNG carrying V3 (`ccv3`) and V2 (`chara`) chunks."""

    character: Character
    filename: str  # the character's name made safe for a file (any script), with the suffix
    media_type: str
    content: bytes


def _card_data(body: dict[str, Any]) -> dict[str, Any]:
    """The card fields of a request: the fields themselves, or a whole card's `data`."""
    data = body.get("data") if "spec" in body else body
    if not isinstance(data, dict):
        raise InvalidInput("a card's `data` must be a JSON object")
    return data


def _merged(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Fields in `patch` replace the current ones, except `extensions`, which is merge-patched."""
    data = {**current, **patch}
    if isinstance(patch.get("extensions"), dict):
        data["extensions"] = _merge_patch(current.get("extensions"), patch["extensions"])
    return data


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def _serialized_size(data: dict[str, Any]) -> int:
    """The card's size as stored (and as an export's JSON carries it)."""
    return len(json.dumps(data, ensure_ascii=False).encode("utf-8"))


def _filename(name: str) -> str:
    # Letters of any script stay ("나래"); separators, dots and the like become "_".
    return re.sub(r"[^\w-]+", "_", unicodedata.normalize("NFC", name)).strip("_") or "character"


@dataclass
class Characters:
    store: Store
    memory: Memory | None
    settings: Settings
    # The server's shared synthesizer; without one (the CLI), one is made for a voice check.
    speaker: Callable[[], Synthesizer] | None = None
    # Refuses a card too large for the chat model's window (TooLarge); None: no model here.
    check_fit: Callable[[dict[str, Any]], None] | None = None

    def all(self) -> list[Character]:
        return self.store.characters.list()

    def get(self, character_id: int) -> Character:
        return self.store.characters.get(character_id)

    def create(self, body: dict[str, Any]) -> Character:
        """A character from card fields or a whole V2/V3 card; a voice it names must be
        installed."""
        data = cards.normalise_data(_card_data(body))
        self._check_card(data)
        self._check_voice(data)
        return self._followed(self.store.characters.create(data=data, avatar=None))

    def import_card(self, raw: bytes) -> Character:
        """A character from a V1/V2/V3 card file, PNG (its image becomes the avatar) or JSON.
        A Hearth voice the card names is kept even if it is not installed here."""
        limits = self.settings.limits
        card = cards.parse_card(raw, max_bytes=limits.max_card_bytes,
                                max_image_bytes=limits.max_image_bytes,
                                max_image_side=limits.max_image_side)
        self._check_card(card.data)
        return self._followed(self.store.characters.create(data=card.data, avatar=card.avatar))

    def update(self, character_id: int, patch: dict[str, Any]) -> Character:
        """Change the fields in `patch` (`extensions` merge-patched); the rest stays."""
        current = self.store.characters.get(character_id)
        data = cards.normalise_data(_merged(current.data, _card_data(patch)))
        self._check_card(data)
        self._check_voice(data, before=current.data)
        if current.lore_keys_off and data["character_book"] != current.data["character_book"]:
            # An edited lorebook gets its keys tried again (one search's time bound each).
            self.store.characters.turn_on_lore_keys(character_id)
        return self._followed(self.store.characters.update(character_id, data=data))

    def _followed(self, character: Character) -> Character:
        """A card in another language may call for another embedder in memory."""
        if self.memory is not None and cards.language_of(character.data):
            self.memory.follow_language()
        return character

    def delete(self, character_id: int) -> None:
        """Delete the character with every conversation anyone held with it, and forget them."""
        self.store.characters.delete(character_id)
        if self.memory is not None:
            self.memory.forget_character(character_id)

    def avatar(self, character_id: int) -> bytes:
        """The avatar as PNG; a placeholder drawn from the name when there is none."""
        character = self.store.characters.get(character_id)
        stored = self.store.characters.avatar(character_id)
        return stored or cards.placeholder_avatar(character.name)

    def set_avatar(self, character_id: int, raw: bytes) -> Character:
        """Replace the avatar with a PNG image (checked by content, stored without extras)."""
        limits = self.settings.limits
        avatar = cards.check_image(raw, max_bytes=limits.max_image_bytes,
                                   max_side=limits.max_image_side)
        current = self.store.characters.get(character_id)
        return self.store.characters.update(character_id, data=current.data, avatar=avatar)

    def export(self, character_id: int, format: CardFormat) -> CardFile:
        character = self.store.characters.get(character_id)
        if format == "json":
            content = json.dumps(cards.to_v3(character.data), ensure_ascii=False,
                                 indent=2).encode()
            media_type = "application/json"
        else:
            content = cards.card_to_png(character.data, self.store.characters.avatar(character_id))
            media_type = "image/png"
        return CardFile(character, f"{_filename(character.name)}.{format}", media_type, content)

    def _check_card(self, data: dict[str, Any]) -> None:
        """One size limit on every card written (create, import, change), and a card that
        leaves the window no room for a message is refused before it is stored."""
        if len(data["name"]) > MAX_NAME_CHARS:
            # {{char}} repeats the name through the card: a long one multiplies the prompt.
            raise InvalidInput(
                f"the name has {len(data['name'])} characters; the limit is {MAX_NAME_CHARS}")
        limit = self.settings.limits.max_card_bytes
        size = _serialized_size(data)
        if size > limit:
            fields = sorted(((_serialized_size({k: v}), k) for k, v in data.items()), reverse=True)
            largest = ", ".join(f"'{k}' {describe_size(n)}" for n, k in fields[:3])
            raise TooLarge(
                f"the card is {describe_size(size)}, over the limit of {describe_size(limit)} "
                f"(limits.max_card_bytes); its largest fields: {largest}. Shorten them")
        if self.check_fit is not None:
            self.check_fit(data)

    def _check_voice(self, data: dict[str, Any], before: dict[str, Any] | None = None) -> None:
        """A voice named on create or update must be installed (an imported card keeps its own)."""
        name = cards.voice_of(data, default="").name
        if not name or (before is not None and name == cards.voice_of(before, default="").name):
            return
        speaker = (self.speaker() if self.speaker is not None
                   else load_voices(self.settings.voice))
        try:
            speaker.voice(name)
        except NotFound as e:
            raise InvalidInput(f"'extensions.hearth.voice.name': {e.message}") from None
