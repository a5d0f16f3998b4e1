"""Uploads are judged by their content, names from users cannot leave their folders,
and browsers on other origins get nothing unless the owner allows them."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from hearth.api.app import create_app
from hearth.characters import to_v3
from tests.utils.cards import as_json, rich_v3_data, text_chunk, tiny_png

ESCAPES = ["../../../etc/passwd", "..", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd",
           "en_US-joe-medium/../../hearth", "voices/../../models/minilm-l6-v2/model"]


def test_uploads_are_checked_by_content_not_by_name(client: httpx.Client) -> None:
    card = as_json(to_v3({**rich_v3_data(), "name": "Named Wrong"}))
    r = client.post("/api/characters/import", files={"file": ("card.png", card, "image/png")})
    assert r.status_code == 201 and r.json()["name"] == "Named Wrong"  # JSON, whatever its name
    png = tiny_png(text_chunk("chara", to_v3({**rich_v3_data(), "name": "Png Card"})))
    r = client.post("/api/characters/import", files={"file": ("notes.txt", png, "text/plain")})
    assert r.status_code == 201 and r.json()["name"] == "Png Card"
    character = r.json()["id"]
    before = client.get(f"/api/characters/{character}/avatar").content
    r = client.put(f"/api/characters/{character}/avatar",
                   files={"file": ("face.png", b"GIF89a not a png at all", "image/png")})
    assert r.status_code == 422 and "PNG" in r.json()["error"]["message"]
    assert client.get(f"/api/characters/{character}/avatar").content == before
    r = client.put(f"/api/characters/{character}/avatar",
                   files={"file": ("face.gif", tiny_png(), "image/gif")})
    assert r.status_code == 200


@pytest.mark.parametrize("name", ESCAPES)
def test_voice_names_cannot_leave_the_voices_folder(client: httpx.Client, name: str) -> None:
    r = client.post("/v1/audio/speech", json={"input": "hello", "voice": name})
    assert 400 <= r.status_code < 500 and "voice" in r.json()["error"]["message"].lower()
    r = client.get(f"/api/voices/{name}/preview")
    assert 400 <= r.status_code < 500
    r = client.post("/api/characters", json={
        "name": "Wanderer", "extensions": {"hearth": {"voice": {"name": name}}}})
    assert r.status_code == 422 and "voice" in r.json()["error"]["message"].lower()


def _preflight(client: TestClient, origin: str) -> httpx.Response:
    return client.options("/api/characters", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET"})


def test_cors_is_off_unless_origins_are_configured(start_services) -> None:  # noqa: ANN001
    lan = "http://192.168.1.20:3000"
    closed = start_services()
    with TestClient(create_app(closed.settings, closed)) as c:
        assert "access-control-allow-origin" not in _preflight(c, lan).headers
        assert "access-control-allow-origin" not in c.get(
            "/api/characters", headers={"Origin": lan}).headers
    settings = closed.settings.model_copy(
        update={"server": closed.settings.server.model_copy(update={"cors_origins": [lan]})})
    with TestClient(create_app(settings, closed)) as c:
        assert _preflight(c, lan).headers["access-control-allow-origin"] == lan
        assert "access-control-allow-origin" not in _preflight(c, "http://evil.example").headers
