"""Setting a character's voice over the live API: create, PATCH, export and import."""

from __future__ import annotations

import httpx

from hearth.characters import to_v3
from hearth.config import DEFAULT_VOICE
from tests.utils.cards import as_json


def voice(character: dict) -> dict | None:
    return character["data"]["extensions"].get("hearth", {}).get("voice")


def test_voice_set_on_create_and_by_patch(client: httpx.Client) -> None:
    body = {"name": "Nell", "extensions": {"talkativeness": "0.5",
                                           "hearth": {"voice": {"name": DEFAULT_VOICE}}}}
    r = client.post("/api/characters", json=body)
    assert r.status_code == 201, r.text
    nell = r.json()
    url = f"/api/characters/{nell['id']}"

    # `extensions` is merge-patched: the voice changes, the other extensions stay.
    r = client.patch(url, json={"extensions": {"hearth": {"voice": {"speed": 1.5}}}})
    assert r.status_code == 200, r.text
    assert voice(r.json()) == {"name": DEFAULT_VOICE, "speed": 1.5}
    assert r.json()["data"]["extensions"]["talkativeness"] == "0.5"
    # null removes a key; other fields patch as before
    r = client.patch(url, json={"extensions": {"hearth": {"voice": {"name": None}}},
                                "description": "Quiet."})
    assert voice(r.json()) == {"speed": 1.5} and r.json()["data"]["description"] == "Quiet."
    # a patch that leaves the voice alone is not checked against the installed voices
    assert client.patch(url, json={"first_mes": "Hello."}).status_code == 200


def test_unknown_or_malformed_voice_is_refused(client: httpx.Client) -> None:
    bad = {"name": "Vox", "extensions": {"hearth": {"voice": {"name": "en_GB-nobody"}}}}
    r = client.post("/api/characters", json=bad)
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "en_GB-nobody" in message and DEFAULT_VOICE in message

    vox = client.post("/api/characters", json={"name": "Vox"}).json()
    url = f"/api/characters/{vox['id']}"
    for patch, words in [
        ({"name": "../etc/passwd"}, ("installed voices",)),
        ({"speed": 10}, ("'extensions.hearth.voice.speed'", "0.25")),
        ({"speaker": [1]}, ("'extensions.hearth.voice.speaker'",)),
    ]:
        r = client.patch(url, json={"extensions": {"hearth": {"voice": patch}}})
        assert r.status_code == 422, r.text
        for word in words:
            assert word in r.json()["error"]["message"]
    assert client.get(url).json()["data"] == vox["data"]  # nothing stored


def test_voice_round_trips_export_and_import(client: httpx.Client) -> None:
    block = {"name": DEFAULT_VOICE, "speed": 0.8}
    body = {"name": "Rue", "extensions": {"hearth": {"voice": block}}}
    rue = client.post("/api/characters", json=body).json()
    for fmt in ("json", "png"):
        exported = client.get(f"/api/characters/{rue['id']}/export?format={fmt}").content
        r = client.post("/api/characters/import", files={"file": (f"rue.{fmt}", exported)})
        assert r.status_code == 201, r.text
        assert voice(r.json()) == block


def test_imported_card_keeps_a_voice_not_installed_here(client: httpx.Client) -> None:
    block = {"name": "de_DE-thorsten-high", "speaker": 2}
    raw = as_json(to_v3({"name": "Kai", "extensions": {"hearth": {"voice": block}}}))
    r = client.post("/api/characters/import", files={"file": ("kai.json", raw)})
    assert r.status_code == 201, r.text
    assert voice(r.json()) == block
