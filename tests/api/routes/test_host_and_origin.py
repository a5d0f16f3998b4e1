"""A web page on another origin cannot change anything or open the voice socket, and a
DNS-rebinding page (its own name pointed at Hearth) cannot read anything; Hearth's own
page, curl and SDKs (no `Origin`) keep working."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.types import Message, Receive, Scope, Send

from hearth.api.app import create_app
from hearth.api.origins import HostAndOriginCheck, known_names
from hearth.config import ServerSettings
from hearth.services import Services

SELF = "http://testserver"  # the origin of TestClient's own server
FOREIGN = ["http://evil.example", "http://testserver:8001", "https://testserver", "null"]
CARD = json.dumps({"spec": "chara_card_v2", "spec_version": "2.0",
                   "data": {"name": "Mallory", "description": "from a stranger's page"}})


def _with_server(services: Services, **server: Any) -> TestClient:
    settings = services.settings.model_copy(
        update={"server": services.settings.server.model_copy(update=server)})
    return TestClient(create_app(settings, services))


@pytest.fixture(params=["single user", "accounts"])
def site(request: pytest.FixtureRequest, start_services: Any) -> Iterator[TestClient]:
    """The app on loopback without accounts (no key needed), or with an owner signed in
    by the session cookie a browser would send along."""
    services = start_services()
    with _with_server(services) as client:
        if request.param == "accounts":
            services.accounts.init_owner("Olive", "olive's long password")
            r = client.post("/api/login", json={"name": "Olive",
                                                "password": "olive's long password"})
            assert r.status_code == 200 and "hearth_session" in client.cookies
        yield client


def _import(client: TestClient, **headers: str) -> Any:
    return client.post("/api/characters/import", headers=headers,
                       files={"file": ("card.json", CARD, "application/json")})


def _names(client: TestClient) -> list[str]:
    return [c["name"] for c in client.get("/api/characters").json()]


@pytest.mark.parametrize("origin", FOREIGN)
def test_a_foreign_page_cannot_import_a_character(site: TestClient, origin: str) -> None:
    r = _import(site, Origin=origin)
    assert r.status_code == 403
    message = r.json()["error"]["message"]
    assert origin in message and "server.cors_origins" in message
    assert "Mallory" not in _names(site)  # nothing was stored
    conversation = site.post("/api/conversations", json={"character_id": 1}).json()["id"]
    r = site.post(f"/api/conversations/{conversation}/messages",
                  json={"content": "hello"}, headers={"Origin": origin})
    assert r.status_code == 403


def test_own_page_and_clients_without_origin_can(site: TestClient) -> None:
    assert _import(site, Origin=SELF).status_code == 201
    assert _import(site).status_code == 201  # curl, SDKs, the openai package
    assert _import(site, Origin=SELF + "/").status_code == 201
    # Reading is not refused: the browser keeps the answer from a foreign page (CORS).
    assert site.get("/api/characters", headers={"Origin": "http://evil.example"}).status_code \
        == 200
    assert _names(site).count("Mallory") == 3


@pytest.mark.parametrize("origin", FOREIGN)
def test_a_foreign_page_cannot_open_the_voice_socket(site: TestClient, origin: str) -> None:
    conversation = site.post("/api/conversations", json={"character_id": 1}).json()["id"]
    with pytest.raises(WebSocketDenialResponse) as refused:
        with site.websocket_connect(f"/api/voice?conversation={conversation}",
                                    headers={"Origin": origin}):
            pass
    assert refused.value.status_code == 403
    assert "server.cors_origins" in refused.value.json()["error"]["message"]


def test_own_page_opens_the_voice_socket(site: TestClient) -> None:
    conversation = site.post("/api/conversations", json={"character_id": 1}).json()["id"]
    with site.websocket_connect(f"/api/voice?conversation={conversation}",
                                headers={"Origin": SELF}) as ws:
        assert ws.receive_json()["type"] == "ready"


def test_origins_listed_in_cors_origins_are_allowed(start_services: Any) -> None:
    services = start_services()
    lan = "http://192.168.1.20:3000"
    with _with_server(services, cors_origins=[lan]) as client:
        assert _import(client, Origin=lan).status_code == 201
        assert _import(client, Origin="http://192.168.1.20:3001").status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example",
                                  "127.0.0.1.nip.io", "testserver@evil.example", "[bad"])
def test_a_rebinding_host_cannot_read_the_export(site: TestClient, host: str) -> None:
    r = site.get("/api/export", headers={"Host": host})
    assert r.status_code == 400
    assert "server.allowed_hosts" in r.json()["error"]["message"]
    assert "hello" not in r.text


@pytest.mark.parametrize("host", ["testserver", "localhost:8000", "127.0.0.1", "[::1]:8000",
                                  "LOCALHOST", "localhost."])
def test_loopback_names_can(site: TestClient, host: str) -> None:
    assert site.get("/api/export", headers={"Host": host}).status_code == 200


def test_names_the_owner_adds_are_known(start_services: Any) -> None:
    services = start_services()
    with _with_server(services, allowed_hosts=["hearth.local"]) as client:
        assert client.get("/api/health", headers={"Host": "hearth.local:8000"}).status_code \
            == 200
        assert client.get("/api/health", headers={"Host": "evil.example"}).status_code == 400


def test_on_the_lan_the_machine_is_known_by_its_name_and_address() -> None:
    loopback = known_names(ServerSettings(host="127.0.0.1"))
    lan = known_names(ServerSettings(host="192.168.1.5"))
    everywhere = known_names(ServerSettings(host="0.0.0.0", allowed_hosts=["Hearth.Home."]))
    assert "192.168.1.5" in lan and "192.168.1.5" not in loopback
    assert {"localhost", "127.0.0.1", "::1"} <= loopback and "0.0.0.0" not in everywhere
    assert "hearth.home" in everywhere
    short = socket.gethostname().lower().split(".")[0]
    assert {short, f"{short}.local"} <= lan and f"{short}.local" not in loopback


def _asgi_answer(server: ServerSettings, scope: dict[str, Any]) -> int:
    """Run the check on one request with a real ASGI exchange; the status it answers."""
    sent: list[Message] = []

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(HostAndOriginCheck(ok, server)(
        {"type": "http", "method": "GET", "scheme": "http", **scope}, receive, send))
    return int(sent[0]["status"])


@pytest.mark.parametrize(("bind", "arrived_on", "host", "status"), [
    ("0.0.0.0", "192.168.1.5", "192.168.1.5:8000", 200),  # its own address, any interface
    ("0.0.0.0", "192.168.1.5", "192.168.1.6:8000", 400),
    ("::", "::ffff:192.168.1.5", "192.168.1.5:8000", 200),
    ("0.0.0.0", "192.168.1.5", "rebind.evil.example:8000", 400),
    ("127.0.0.1", "127.0.0.1", "192.168.1.5:8000", 400),
])
def test_a_lan_server_answers_to_the_address_it_was_reached_on(
        bind: str, arrived_on: str, host: str, status: int) -> None:
    scope = {"headers": [(b"host", host.encode())], "server": (arrived_on, 8000)}
    assert _asgi_answer(ServerSettings(host=bind), scope) == status
