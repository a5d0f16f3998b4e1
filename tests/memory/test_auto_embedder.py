"""memory.embedder = "auto": MiniLM until the household turns out not to be English, then
multilingual-e5-small, switched to by itself in the background (embedded and on a Chroma
server), and kept across a restart. A named embedder is never switched."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from hearth.api.app import create_app
from hearth.characters import normalise_data
from hearth.engines.embed import DEFAULT_EMBEDDER, MiniLMEmbedder, OnnxEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.memory.embedder_choice import MULTILINGUAL_EMBEDDER, household_embedder, non_latin
from hearth.memory.service import Memory
from hearth.services import Services
from hearth.store import Store
from tests.conftest import make_settings
from tests.memory.conftest import fresh_database
from tests.utils.conversations import DAY, history
from tests.utils.live import ThreadServer

ENGLISH = {2: "My dog is called Biscuit and he loves the beach.",
           6: "I work as a nurse at the city hospital."}
KOREAN = ["내 고양이 이름은 나비야.", "나비 정말 귀엽겠다!", "다음 달에 부산으로 이사 가.",
          "부산이라니 바다 근처라 좋겠네.", "요즘 퇴근하고 매일 요가를 해.", "요가 꾸준히 하는 거 멋지다."]


def imported(lines: list[str], start: float) -> dict[str, Any]:
    """An import body: the lines in turn from user and character, ten minutes apart."""
    return {"messages": [
        {"role": "user" if i % 2 == 0 else "assistant", "content": text,
         "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 600))}
        for i, text in enumerate(lines)]}


def switched(memory: Memory) -> None:
    """Wait (generously) for the background switch to finish."""
    assert memory._switch is not None, "no switch was started"
    memory._switch.join(timeout=600)
    assert not memory._switch.is_alive(), "the switch did not finish in 10 minutes"


def best(memory: Memory, question: str, user_id: int) -> str:
    query = memory.embedder.embed([question], query=True)[0]
    (found, _), = memory.index.nearest(query, user_id=user_id, character_id=1, k=1)
    return memory.index.get([found])[0].text


@pytest.fixture()
def household(llama: LlamaModel, embedder: MiniLMEmbedder,
              multilingual_embedder: OnnxEmbedder) -> Any:
    """Start a Hearth over a data dir with a live API, sharing the loaded models."""

    @contextmanager
    def start(data: Path, memory: dict[str, Any]) -> Iterator[tuple[httpx.Client, Services]]:
        settings = make_settings(data, memory)
        services = Services.start(settings, model=ModelOwner(llama, queue_size=4),
                                  embedders=(embedder, multilingual_embedder))
        try:
            with ThreadServer(create_app(settings, services)) as server, \
                    httpx.Client(base_url=server.url, timeout=120) as client:
                yield client, services
        finally:
            services.close()

    return start


def test_the_household_decides_the_embedder(tmp_path: Path) -> None:
    store = Store(tmp_path / "hearth.db")
    owner = store.people.ensure("ana")
    assert household_embedder(store) == DEFAULT_EMBEDDER  # fresh: English
    store.people.set_profile(owner.id, language="en-GB")
    assert household_embedder(store) == DEFAULT_EMBEDDER  # English, chosen
    sam = store.characters.create(data=normalise_data(
        {"name": "Sam", "extensions": {"hearth": {"language": "en"}}}), avatar=None)
    assert household_embedder(store) == DEFAULT_EMBEDDER
    character = store.characters.create(data=normalise_data(
        {"name": "Nari", "extensions": {"hearth": {"language": "ko"}}}), avatar=None)
    assert household_embedder(store) == MULTILINGUAL_EMBEDDER  # a Korean card
    store.characters.delete(character.id)
    conversation = store.conversations.create(user_id=owner.id, character_id=sam.id, title="t",
                                              greetings=[])
    english = [("user", "I walked the dog by the sea, 나비 came too.", 0.0)] * 9
    store.messages.add_many(conversation_id=conversation.id, items=english)
    assert household_embedder(store) == DEFAULT_EMBEDDER  # a Korean name in English
    store.messages.add_many(conversation_id=conversation.id,
                            items=[("user", "Привет, как дела?", 0.0), ("user", "  ", 0.0),
                                   ("user", "今日は寒いね", 0.0)])
    assert household_embedder(store) == DEFAULT_EMBEDDER  # 2 of 11 (blank ones aside)
    store.messages.add_many(conversation_id=conversation.id, items=[("user", "좋아!", 0.0)])
    assert household_embedder(store) == MULTILINGUAL_EMBEDDER  # 3 of 12: a fifth and more
    store.close()


def test_scripts_are_told_apart() -> None:
    assert non_latin("내 고양이 이름은 나비야.") and non_latin("Привет") and non_latin("สวัสดี")
    assert not non_latin("Café au lait, s'il vous plaît") and not non_latin("12:30 🙂")
    assert not non_latin("My cat 나비 is grey")


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_a_korean_profile_switches_memory_to_e5_by_itself(
        household: Any, request: pytest.FixtureRequest, tmp_path: Path, where: str,
        caplog: pytest.LogCaptureFixture) -> None:
    memory_settings: dict[str, Any] = {"embedder": "auto"}
    if where == "server":
        memory_settings |= {"chroma_url": request.getfixturevalue("chroma").url,
                            "chroma_database": fresh_database()}
    data = tmp_path / "data"
    with household(data, memory_settings) as (client, services):
        memory = services.memory
        assert memory.embedder.name == DEFAULT_EMBEDDER  # a fresh household: English
        user = services.user
        conversation = services.chat.start_conversation(user, 1)
        english = [item.content for item in history(40, 0, ENGLISH)]
        for n, lines in enumerate((english, KOREAN)):
            body = imported(lines, time.time() - (9 - n) * DAY)
            assert client.post(f"/api/conversations/{conversation.id}/import",
                               json=body).status_code == 201
        assert memory.embedder.name == DEFAULT_EMBEDDER  # a few Korean lines: still English
        assert memory._switch is None

        with caplog.at_level("INFO", logger="hearth.memory.service"):
            with memory._writing:  # holds the switch at its first write into the new index
                r = client.patch("/api/me", json={"language": "ko"})
                assert r.status_code == 200, r.text
                assert memory._switch is not None and memory._switch.is_alive()
                found = client.get("/api/memory/search", params={  # served meanwhile
                    "q": "What is my dog called?", "character_id": 1}).json()
                assert found[0]["text"] == ENGLISH[2]
                assert memory.embedder.name == DEFAULT_EMBEDDER
            switched(memory)
        assert memory.embedder.name == MULTILINGUAL_EMBEDDER
        assert "building its memory index beside the one in use" in caplog.text
        assert memory.index.stamp().embedder == MULTILINGUAL_EMBEDDER
        assert memory.index._names(others=True) == []  # MiniLM's collections are gone
        ids = services.store.messages.ids()
        assert len(memory.index.indexed_ids("message")) == len(ids)  # English ones too
        assert best(memory, "우리 고양이 이름이 뭐였더라?", user.id) == KOREAN[0]
        assert best(memory, "What is my dog called?", user.id) == ENGLISH[2]
        found = client.get("/api/memory/search", params={
            "q": "부산으로 언제 이사 간다고 했지?", "character_id": 1}).json()
        assert KOREAN[2] in [m["text"] for m in found[:3]]

    caplog.clear()
    with household(data, memory_settings) as (client, services):  # a restart
        memory = services.memory
        assert memory.embedder.name == MULTILINGUAL_EMBEDDER
        with caplog.at_level("INFO", logger="hearth.memory.service"):
            assert memory.sync() == 0  # what start-up runs: nothing to rebuild
        assert "rebuild" not in caplog.text
        assert best(memory, "우리 고양이 이름이 뭐였더라?", user.id) == KOREAN[0]


def test_importing_a_korean_history_switches_an_english_household(
        household: Any, tmp_path: Path) -> None:
    with household(tmp_path / "data", {"embedder": "auto"}) as (client, services):
        memory = services.memory
        user = services.user
        conversation = services.chat.start_conversation(user, 1)
        services.chat.import_messages(user, conversation.id,
                                      history(20, time.time() - 9 * DAY, ENGLISH))
        assert memory.embedder.name == DEFAULT_EMBEDDER
        r = client.post(f"/api/conversations/{conversation.id}/import",
                        json=imported(KOREAN * 2, time.time() - 2 * DAY))
        assert r.status_code == 201, r.text
        switched(memory)
        assert memory.embedder.name == MULTILINGUAL_EMBEDDER
        assert best(memory, "내가 퇴근하고 매일 뭐 한다고 했지?", user.id) == KOREAN[4]
        assert best(memory, "What is my dog called?", user.id) == ENGLISH[2]


def test_a_named_embedder_is_never_switched(household: Any, tmp_path: Path) -> None:
    with household(tmp_path / "en", {"embedder": DEFAULT_EMBEDDER}) as (client, services):
        assert client.patch("/api/me", json={"language": "ko"}).status_code == 200
        r = client.post("/api/characters", json={
            "name": "나래", "extensions": {"hearth": {"language": "ko"}}})
        assert r.status_code == 201, r.text
        assert services.memory.embedder.name == DEFAULT_EMBEDDER
        assert services.memory._switch is None
    with household(tmp_path / "e5", {"embedder": MULTILINGUAL_EMBEDDER}) as (_, services):
        assert services.memory.embedder.name == MULTILINGUAL_EMBEDDER  # English household


def test_auto_with_an_embedder_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory.embedder_dir holds one model"):
        make_settings(tmp_path, {"embedder": "auto", "embedder_dir": str(tmp_path)})


def test_a_korean_character_switches_memory(household: Any, tmp_path: Path) -> None:
    with household(tmp_path / "data", {"embedder": "auto"}) as (client, services):
        r = client.post("/api/characters", json={"name": "Sam"})  # no language: no switch
        assert r.status_code == 201, r.text
        assert services.memory._switch is None
        r = client.post("/api/characters", json={
            "name": "나래", "extensions": {"hearth": {"language": "ko-KR"}}})
        assert r.status_code == 201, r.text
        switched(services.memory)
        assert services.memory.embedder.name == MULTILINGUAL_EMBEDDER
