from __future__ import annotations

import json
import re
from typing import Any, Literal

from fastapi import APIRouter, Body, File, Response, UploadFile

from hearth import characters as cards
from hearth.api.deps import Owner, ServicesDep
from hearth.api.schemas import CharacterOut, Id
from hearth.errors import InvalidInput, NotFound, TooLarge
from hearth.services import Services

router = APIRouter(prefix="/api/characters", tags=["characters"])

CardBody = Body(
    description="Card fields (`name` required), or a whole V2/V3 card `{spec, spec_version, data}`."
    " The character's voice is `extensions.hearth.voice = {name, speaker, speed}`, each optional:"
    " `name` an installed voice (GET /api/voices; default: the server's default voice), `speaker` "
    "a speaker name or id of a multi-speaker voice, `speed` 0.25-4.0 (1.0: natural pace). On "
    "PATCH, `extensions` is merged key by key (JSON merge patch: null removes a key), so the "
    "voice can be set without resending the other extensions.",
    examples=[{"name": "Ember", "description": "A warm companion.", "first_mes": "Hi {{user}}!",
               "extensions": {"hearth": {"voice": {"name": "en_US-joe-medium", "speed": 1.1}}}}],
)


def _card_data(body: dict[str, Any]) -> dict[str, Any]:
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


def _check_voice(
    services: Services, data: dict[str, Any], before: dict[str, Any] | None = None
) -> None:
    """A voice named on create or update must be installed (an imported card keeps its own)."""
    name = cards.voice_of(data, default="").name
    if not name or (before is not None and name == cards.voice_of(before, default="").name):
        return
    try:
        services.speaker().voice(name)
    except NotFound as e:
        raise InvalidInput(f"'extensions.hearth.voice.name': {e.message}") from None


async def _read_upload(upload: UploadFile, limit: int, what: str) -> bytes:
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"the {what} is larger than the limit of {limit} bytes; use a smaller file")
    return raw


def _filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "character"


@router.get("")
def list_characters(services: ServicesDep) -> list[CharacterOut]:
    return [CharacterOut.of(c) for c in services.store.characters.list()]


@router.post("", status_code=201)
def create_character(services: ServicesDep, body: dict[str, Any] = CardBody) -> CharacterOut:
    data = cards.normalise_data(_card_data(body))
    _check_voice(services, data)
    return CharacterOut.of(services.store.characters.create(data=data, avatar=None))


@router.post("/import", status_code=201)
async def import_character(services: ServicesDep, file: UploadFile = File(...)) -> CharacterOut:
    """Import a Character Card V1/V2/V3 from a PNG (its image becomes the avatar) or JSON file.

    A Hearth voice the card names is kept even if it is not installed here; until it
    is, speaking as this character fails with a message naming the installed voices.
    """
    limit = services.settings.limits.max_card_bytes
    card = cards.parse_card(await _read_upload(file, limit, "card file"), max_bytes=limit)
    return CharacterOut.of(services.store.characters.create(data=card.data, avatar=card.avatar))


@router.get("/{character_id}")
def get_character(services: ServicesDep, character_id: Id) -> CharacterOut:
    return CharacterOut.of(services.store.characters.get(character_id))


@router.patch("/{character_id}")
def update_character(
    services: ServicesDep, character_id: Id, body: dict[str, Any] = CardBody
) -> CharacterOut:
    current = services.store.characters.get(character_id)
    data = cards.normalise_data(_merged(current.data, _card_data(body)))
    _check_voice(services, data, before=current.data)
    return CharacterOut.of(services.store.characters.update(character_id, data=data))


@router.delete("/{character_id}", status_code=204)
def delete_character(services: ServicesDep, owner: Owner, character_id: Id) -> Response:
    """Delete the character and every conversation anyone held with it (the owner only:
    characters are shared by the household)."""
    services.store.characters.delete(character_id)
    if services.memory is not None:
        services.memory.forget_character(character_id)
    return Response(status_code=204)


@router.get("/{character_id}/export")
def export_character(
    services: ServicesDep, character_id: Id, format: Literal["png", "json"] = "png"
) -> Response:
    """The card as V3 JSON, or as a PNG carrying both V3 (`ccv3`) and V2 (`chara`) chunks."""
    character = services.store.characters.get(character_id)
    name = _filename(character.name)
    if format == "json":
        body = json.dumps(cards.to_v3(character.data), ensure_ascii=False, indent=2).encode()
        media = "application/json"
    else:
        avatar = services.store.characters.avatar(character_id)
        body, media = cards.card_to_png(character.data, avatar), "image/png"
    disposition = f'attachment; filename="{name}.{format}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/{character_id}/avatar", responses={200: {"content": {"image/png": {}}}})
def get_avatar(services: ServicesDep, character_id: Id) -> Response:
    character = services.store.characters.get(character_id)
    avatar = (services.store.characters.avatar(character_id)
              or cards.placeholder_avatar(character.name))
    return Response(avatar, media_type="image/png")


@router.put("/{character_id}/avatar")
async def set_avatar(
    services: ServicesDep, character_id: Id, file: UploadFile = File(...)
) -> CharacterOut:
    """Replace the avatar with a PNG image (checked by content)."""
    limit = services.settings.limits.max_image_bytes
    raw = await _read_upload(file, limit, "image")
    cards.check_image(raw, max_bytes=limit)
    current = services.store.characters.get(character_id)
    return CharacterOut.of(
        services.store.characters.update(character_id, data=current.data, avatar=raw)
    )
