"""Characters: cards in and out, avatars.

Card work (parsing JSON, checking, storing) runs in a worker thread: a card of
megabytes then holds up no one else's request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, File, Request, Response, UploadFile

from hearth.api.deps import Owner, ServicesDep
from hearth.api.downloads import attachment
from hearth.api.schemas import CharacterOut, CharacterSummary, Id
from hearth.card_checks import json_type, load_json
from hearth.errors import InvalidInput, TooLarge
from hearth.services.characters import CardFormat
from hearth.store import Character

router = APIRouter(prefix="/api/characters", tags=["characters"])

# The JSON body of create and change, read by hand (so it is parsed off the event loop)
# and described here for the API docs.
CARD_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "description": "Card fields (`name` required), or a whole V2/V3 card `{spec, spec_version, "
    "data}`, at most limits.max_card_bytes. The character's voice is `extensions.hearth.voice "
    "= {name, speaker, speed}`, each optional: `name` an installed voice (GET /api/voices; "
    "default: the server's default voice), `speaker` a speaker name or id of a multi-speaker "
    "voice, `speed` 0.25-4.0 (1.0: natural pace). On PATCH, `extensions` is merged key by key "
    "(JSON merge patch: null removes a key), so the voice can be set without resending the "
    "other extensions.",
    "examples": [{"name": "Ember", "description": "A warm companion.", "first_mes": "Hi {{user}}!",
                  "extensions": {"hearth": {"voice": {"name": "en_US-joe-medium",
                                                      "speed": 1.1}}}}],
}}}}}


async def _read_upload(upload: UploadFile, limit: int, what: str) -> bytes:
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"the {what} is larger than the limit of {limit} bytes; use a smaller file")
    return raw


async def _read_card_body(request: Request, limit: int) -> bytes:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise TooLarge(f"the card is larger than the limit of {limit} bytes "
                           "(limits.max_card_bytes); shorten its longest fields")
    return bytes(raw)


async def _off_loop(work: Callable[[], Character], status_code: int = 200) -> Response:
    """Run `work` in a worker thread and render its character there too (JSON of
    megabytes takes a while)."""
    def render() -> Response:
        body = CharacterOut.of(work()).model_dump_json()
        return Response(body, status_code=status_code, media_type="application/json")

    return await asyncio.to_thread(render)


def _card_fields(raw: bytes) -> dict[str, Any]:
    body = load_json(raw, "the request body",
                     "the request body is not JSON; send the card's fields as a JSON object")
    if not isinstance(body, dict):
        raise InvalidInput(
            f"the request body must be a JSON object of card fields, not {json_type(body)}")
    return body


@router.get("")
def list_characters(services: ServicesDep) -> list[CharacterSummary]:
    """Every character, in short: GET one for its whole card."""
    return [CharacterSummary.of(c) for c in services.characters.all()]


@router.post("", status_code=201, openapi_extra=CARD_BODY, response_model=CharacterOut)
async def create_character(services: ServicesDep, request: Request) -> Response:
    raw = await _read_card_body(request, services.settings.limits.max_card_bytes)
    return await _off_loop(lambda: services.characters.create(_card_fields(raw)), 201)


@router.post("/import", status_code=201, response_model=CharacterOut)
async def import_character(services: ServicesDep, file: UploadFile = File(...)) -> Response:
    """Import a Character Card V1/V2/V3 from a PNG (its image becomes the avatar) or JSON file.

    A Hearth voice the card names is kept even if it is not installed here; until it
    is, speaking as this character fails with a message naming the installed voices.
    """
    raw = await _read_upload(file, services.settings.limits.max_card_bytes, "card file")
    return await _off_loop(lambda: services.characters.import_card(raw), 201)


@router.get("/{character_id}")
def get_character(services: ServicesDep, character_id: Id) -> CharacterOut:
    return CharacterOut.of(services.characters.get(character_id))


@router.patch("/{character_id}", openapi_extra=CARD_BODY, response_model=CharacterOut)
async def update_character(services: ServicesDep, character_id: Id,
                           request: Request) -> Response:
    raw = await _read_card_body(request, services.settings.limits.max_card_bytes)
    return await _off_loop(lambda: services.characters.update(character_id, _card_fields(raw)))


@router.delete("/{character_id}", status_code=204)
def delete_character(services: ServicesDep, owner: Owner, character_id: Id) -> Response:
    """Delete the character and every conversation anyone held with it (the owner only:
    characters are shared by the household)."""
    services.characters.delete(character_id)
    return Response(status_code=204)


@router.get("/{character_id}/export")
def export_character(
    services: ServicesDep, character_id: Id, format: CardFormat = "png"
) -> Response:
    """The card as V3 JSON, or as a PNG carrying both V3 (`ccv3`) and V2 (`chara`) chunks."""
    card = services.characters.export(character_id, format)
    return Response(card.content, media_type=card.media_type,
                    headers={"Content-Disposition": attachment(card.filename)})


@router.get("/{character_id}/avatar", responses={200: {"content": {"image/png": {}}}})
def get_avatar(services: ServicesDep, character_id: Id) -> Response:
    return Response(services.characters.avatar(character_id), media_type="image/png")


@router.put("/{character_id}/avatar")
async def set_avatar(
    services: ServicesDep, character_id: Id, file: UploadFile = File(...)
) -> CharacterOut:
    """Replace the avatar with a PNG image (checked by content)."""
    raw = await _read_upload(file, services.settings.limits.max_image_bytes, "image")
    return CharacterOut.of(services.characters.set_avatar(character_id, raw))
