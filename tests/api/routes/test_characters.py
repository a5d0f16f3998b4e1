"""Characters over the live HTTP API: CRUD, card import/export, avatars."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

import httpx
import pytest

from hearth.characters import parse_card, to_v2, to_v3
from tests.utils.cards import as_json, rich_v2_data, rich_v3_data, text_chunk, tiny_png, walk


def upload(client: httpx.Client, name: str, raw: bytes) -> httpx.Response:
    return client.post("/api/characters/import", files={"file": (name, raw)})


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_card_round_trips_json_png_json(client: httpx.Client, version: str) -> None:
    data = rich_v2_data() if version == "v2" else rich_v3_data()
    card = to_v2(data) if version == "v2" else to_v3(data)
    r = upload(client, "mira.json", as_json(card))
    assert r.status_code == 201, r.text
    imported = r.json()
    assert imported["name"] == "Mira"

    png = client.get(f"/api/characters/{imported['id']}/export?format=png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    keywords = [body.split(b"\0")[0] for kind, body in walk(png.content) if kind == b"tEXt"]
    assert b"chara" in keywords and b"ccv3" in keywords

    again = upload(client, "mira.png", png.content).json()
    assert again["data"] == imported["data"]
    exported = client.get(f"/api/characters/{again['id']}/export?format=json").json()
    assert exported["spec"] == "chara_card_v3"
    assert exported["data"] == imported["data"]
    for key, value in data.items():  # every field of the source card survives
        assert exported["data"][key] == value, key


def test_png_card_image_becomes_the_avatar(client: httpx.Client) -> None:
    png = tiny_png(text_chunk("chara", to_v2(rich_v2_data())))
    character = upload(client, "card.png", png).json()
    avatar = client.get(character["avatar_url"])
    assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/png"
    assert parse_card(png).avatar == avatar.content  # the image, its card chunk removed


def test_create_update_delete_character(client: httpx.Client) -> None:
    r = client.post("/api/characters", json={"name": "Otto", "description": "A retired clockmaker."})
    assert r.status_code == 201, r.text
    otto = r.json()
    assert otto["data"]["description"] == "A retired clockmaker."
    assert otto["data"]["alternate_greetings"] == []
    r = client.patch(f"/api/characters/{otto['id']}", json={"first_mes": "Tick tock, {{user}}."})
    assert r.status_code == 200
    assert r.json()["data"]["first_mes"] == "Tick tock, {{user}}."
    assert r.json()["data"]["description"] == "A retired clockmaker."
    # A new avatar, checked by content.
    r = client.put(f"/api/characters/{otto['id']}/avatar", files={"file": ("a.png", tiny_png())})
    assert r.status_code == 200
    assert client.get(otto["avatar_url"]).content == tiny_png()
    r = client.post("/api/conversations", json={"character_id": otto["id"]})
    conversation_id = r.json()["id"]
    assert r.json()["messages"][0]["content"] == "Tick tock, User."
    assert client.delete(f"/api/characters/{otto['id']}").status_code == 204
    assert client.get(f"/api/characters/{otto['id']}").status_code == 404
    assert client.get(f"/api/conversations/{conversation_id}").status_code == 404


def test_export_keeps_a_korean_name(client: httpx.Client) -> None:
    """The file is named "나래.png" (RFC 5987 `filename*`), with an ASCII name for old clients."""
    nfd = unicodedata.normalize("NFD", "나래")
    created = client.post("/api/characters", json={"name": nfd})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "나래"  # stored in one spelling, NFC
    for format in ("png", "json"):
        r = client.get(f"/api/characters/{created.json()['id']}/export?format={format}")
        assert r.status_code == 200, r.text
        disposition = r.headers["content-disposition"]
        assert disposition.isascii()  # a header is Latin-1: the name travels percent-encoded
        exact = re.search(r"filename\*=UTF-8''(\S+)", disposition)
        assert exact and unquote(exact.group(1)) == f"나래.{format}"
        assert f'filename="character.{format}"' in disposition


def test_export_fallback_name_keeps_the_latin_letters(client: httpx.Client) -> None:
    created = client.post("/api/characters", json={"name": "Éclair 나래"}).json()
    disposition = client.get(f"/api/characters/{created['id']}/export?format=json").headers[
        "content-disposition"]
    assert 'filename="Eclair.json"' in disposition
    assert "filename*=UTF-8''%C3%89clair_%EB%82%98%EB%9E%98.json" in disposition
