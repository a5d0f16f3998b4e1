"""Accounts and privacy: nothing gets in without a key, and one person's data never
reaches another, through any path that can carry it. Another user's id is 404.

Alice owns the household, Bob is a member. Each has told their companion a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from hearth.api.app import create_app
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.services import Services
from tests.conftest import make_settings
from tests.utils.live import ThreadServer

ALICE_SECRET = "My locker code at the swimming pool is 4721."
BOB_SECRET = "I buried the spare house key under the blue flowerpot."


@dataclass
class Person:
    name: str
    token: str
    conversation: int
    message: int
    fact: int
    plan: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Household:
    url: str
    services: Services
    alice: Person
    bob: Person

    def client(self, person: Person | None = None, token: str | None = None) -> httpx.Client:
        token = person.token if person else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def _tell(url: str, token: str, name: str, secret: str) -> Person:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=120) as c:
        conversation = c.post("/api/conversations", json={"character_id": 1}).json()["id"]
        r = c.post(f"/api/conversations/{conversation}/import", json={"messages": [
            {"role": "user", "content": secret, "created_at": "2026-05-01T10:00:00Z"},
            {"role": "assistant", "content": "I will remember that.",
             "created_at": "2026-05-01T10:00:05Z"},
        ]})
        assert r.status_code == 201, r.text
        fact = c.post("/api/facts", json={"character_id": 1, "text": secret})
        assert fact.status_code == 201, fact.text
        return Person(name, token, conversation, r.json()["message_ids"][0], fact.json()["id"])


@pytest.fixture(scope="module")
def house(llama: LlamaModel, embedder: MiniLMEmbedder,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Household]:
    settings = make_settings(tmp_path_factory.mktemp("household"))
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    _, alice_token = services.accounts.init_owner("Alice", "correct horse battery")
    _, bob_token = services.accounts.add_member("Bob", "bobs password")
    with ThreadServer(create_app(settings, services)) as live:
        alice = _tell(live.url, alice_token, "Alice", ALICE_SECRET)
        bob = _tell(live.url, bob_token, "Bob", BOB_SECRET)
        for person in (alice, bob):  # a plan each, as the plan finder would store it
            user = services.store.people.get_by_name(person.name)
            person.plan = services.store.plans.add(
                user_id=user.id, character_id=1, conversation_id=person.conversation,
                text=f"{person.name}'s dentist visit", kind="plan", due_at=1.8e9, all_day=True,
                source_message_ids=[person.message]).id
        yield Household(live.url, services, alice, bob)
    services.close()


OPEN = {("GET", "/api/health"), ("POST", "/api/login")}


def _routes(url: str) -> list[tuple[str, str]]:
    schema = httpx.get(url + "/openapi.json").json()
    return [(method.upper(), _fill(path))
            for path, methods in schema["paths"].items() for method in methods]


def _fill(path: str) -> str:
    for name in ("character_id", "conversation_id", "message_id", "fact_id", "token_id",
                 "user_id", "name", "plan_id"):
        path = path.replace("{" + name + "}", "1")
    return path


def test_every_route_but_health_and_login_needs_a_key(house: Household) -> None:
    routes = _routes(house.url)
    assert len(routes) > 30
    with house.client() as anonymous, house.client(
            token="hth_not-a-real-token") as forged:
        for method, path in routes:
            if (method, path) in OPEN:
                continue
            for client in (anonymous, forged):
                r = client.request(method, path)
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "unauthorized"
                assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(house.url + "/api/health").status_code == 200


def test_voice_socket_needs_a_key_and_hides_others_conversations(house: Household) -> None:
    ws_url = house.url.replace("http", "ws") + "/api/voice?conversation="

    def close_code(conversation: int, headers: dict[str, str]) -> int:
        with connect(ws_url + str(conversation), additional_headers=headers) as ws:
            event = json.loads(ws.recv(timeout=30))
            assert event["type"] == "error"
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=30)
            return ws.close_code  # type: ignore[return-value]

    assert close_code(house.alice.conversation, {}) == 4401
    assert close_code(house.alice.conversation, house.bob.headers) == 4404
    with connect(ws_url + str(house.alice.conversation),
                 additional_headers=house.alice.headers) as ws:
        assert json.loads(ws.recv(timeout=60))["type"] == "ready"


def test_another_users_ids_answer_404(house: Household) -> None:
    a = house.alice
    with house.client(house.bob) as bob:
        for method, path, body in [
            ("GET", f"/api/conversations/{a.conversation}", None),
            ("GET", f"/api/conversations/{a.conversation}/messages", None),
            ("POST", f"/api/conversations/{a.conversation}/messages", {"content": "hi"}),
            ("POST", f"/api/conversations/{a.conversation}/context", {"content": "hi"}),
            ("POST", f"/api/conversations/{a.conversation}/import",
             {"messages": [{"role": "user", "content": "x", "created_at": "2026-05-02T10:00:00Z"}]}),
            ("GET", f"/api/conversations/{a.conversation}/summary", None),
            ("PATCH", f"/api/messages/{a.message}", {"content": "overwritten"}),
            ("DELETE", f"/api/messages/{a.message}", None),
            ("PATCH", f"/api/facts/{a.fact}", {"text": "overwritten"}),
            ("DELETE", f"/api/facts/{a.fact}", None),
            ("GET", f"/api/conversations/{a.conversation}/relationship", None),
            ("PATCH", f"/api/plans/{a.plan}", {"status": "cancelled"}),
            ("DELETE", f"/api/plans/{a.plan}", None),
            ("DELETE", f"/api/conversations/{a.conversation}", None),
        ]:
            r = bob.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
    with house.client(house.alice) as alice:  # and nothing of Alice's was touched
        messages = alice.get(f"/api/conversations/{a.conversation}/messages").json()
        assert ALICE_SECRET in [m["content"] for m in messages]
        assert [f["text"] for f in alice.get("/api/facts").json()] == [ALICE_SECRET]
        [plan] = alice.get("/api/plans").json()
        assert plan["id"] == a.plan and plan["status"] == "upcoming"


def test_lists_search_and_windows_hold_only_ones_own(house: Household) -> None:
    for me, other, secret, theirs in [(house.alice, house.bob, ALICE_SECRET, BOB_SECRET),
                                      (house.bob, house.alice, BOB_SECRET, ALICE_SECRET)]:
        with house.client(me) as c:
            exported = c.get("/api/export").json()
            assert exported["user"]["name"] == me.name and secret in json.dumps(exported)
            listed = json.dumps([
                exported,
                c.get("/api/conversations").json(),
                c.get("/api/facts").json(),
                c.get("/api/plans").json(),
                c.get("/api/memory/search", params={"q": theirs, "character_id": 1}).json(),
            ])
            assert f"{other.name}'s dentist" not in listed
            assert theirs not in listed and str(other.conversation) not in json.dumps(
                [x["id"] for x in c.get("/api/conversations").json()])
            new = c.post("/api/conversations", json={"character_id": 1}).json()["id"]
            question = "What did I tell you about my locker code and the spare house key?"
            window = c.post(f"/api/conversations/{new}/context", json={"content": question})
            assert window.status_code == 200
            assert theirs not in window.text and secret in window.text  # recalled: own only
            found = c.get("/api/memory/search", params={"q": secret, "character_id": 1}).json()
            assert any(m["text"] == secret for m in found)


def test_openai_style_endpoints_need_a_key(house: Household) -> None:
    with house.client() as anonymous:
        assert anonymous.post("/v1/audio/speech", json={"input": "hello"}).status_code == 401
        assert anonymous.post("/v1/audio/transcriptions",
                              files={"file": ("a.wav", b"RIFF")}).status_code == 401
    with house.client(house.bob) as bob:
        r = bob.post("/v1/audio/speech",
                     json={"input": "hello", "voice": "alloy", "response_format": "wav"})
        assert r.status_code == 200 and r.content[:4] == b"RIFF"


def test_owner_only_actions(house: Household) -> None:
    with house.client(house.bob) as bob:
        for method, path in [("GET", "/api/users"), ("POST", "/api/users"),
                             ("DELETE", "/api/users/1"), ("DELETE", "/api/characters/1")]:
            r = bob.request(method, path, json={"name": "Eve"} if method == "POST" else None)
            assert r.status_code == 403, (method, path, r.text)
            assert "owner" in r.json()["error"]["message"]
        assert bob.get("/api/me").json()["role"] == "member"
    with house.client(house.alice) as alice:
        names = [u["name"] for u in alice.get("/api/users").json()]
        assert names == ["Alice", "Bob"]
        assert "password_hash" not in alice.get("/api/users").text


def test_tokens_are_hashed_at_rest_and_revocable(house: Household) -> None:
    rows = house.services.store.db.all("SELECT digest FROM tokens")  # what is stored
    assert rows and all(house.alice.token not in r["digest"] for r in rows)
    assert house.alice.token not in Path(house.services.settings.db_path).read_bytes().decode(
        "latin-1")
    with house.client(house.bob) as bob:
        made = bob.post("/api/tokens", json={"label": "kitchen tablet"})
        assert made.status_code == 201
        spare = made.json()["token"]
        with house.client(token=spare) as tablet:
            assert tablet.get("/api/me").json()["name"] == "Bob"
            listed = bob.get("/api/tokens").json()
            assert spare not in json.dumps(listed)
            assert bob.delete(f"/api/tokens/{made.json()['id']}").status_code == 204
            assert tablet.get("/api/me").status_code == 401
        assert bob.delete(f"/api/tokens/{made.json()['id']}").status_code == 404


def test_login_gives_a_session_and_guessing_is_slowed(house: Household) -> None:
    with house.client() as browser:
        r = browser.post("/api/login", json={"name": "bob", "password": "bobs password"})
        assert r.status_code == 200, r.text
        assert "hearth_session" in r.headers["set-cookie"]
        assert "httponly" in r.headers["set-cookie"].lower()
        assert browser.get("/api/me").json()["name"] == "Bob"  # the cookie is the key
        assert browser.post("/api/logout").status_code == 204
        browser.cookies.clear()
        assert browser.get("/api/me").status_code == 401
        statuses = [browser.post("/api/login", json={"name": "Alice", "password": "guess"})
                    .status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        late = browser.post("/api/login", json={"name": "Alice", "password": "correct horse battery"})
        assert late.status_code == 429  # even the right password waits out the minute


def test_removing_a_member_removes_their_data_and_keys(house: Household) -> None:
    with house.client(house.alice) as alice:
        made = alice.post("/api/users", json={"name": "Carol"})
        assert made.status_code == 201
        carol_token = made.json()["token"]
        carol = _tell(house.url, carol_token, "Carol", "Carol's secret is the attic.")
        carol_id = made.json()["user"]["id"]
        assert alice.post("/api/users", json={"name": "carol"}).status_code == 409
        assert alice.delete(f"/api/users/{carol_id}").status_code == 204
        assert alice.delete(f"/api/users/{carol_id}").status_code == 404
    with house.client(token=carol_token) as gone:
        assert gone.get("/api/conversations").status_code == 401
    store = house.services.store
    assert store.db.one("SELECT COUNT(*) AS n FROM conversations WHERE id = ?",
                        carol.conversation)["n"] == 0
    memory = house.services.memory
    assert memory is not None
    assert not [n for n in memory.index._names() if n.startswith(f"u{carol_id}_")]  # noqa: SLF001
