"""Recall on the real models: an old fact comes back, time words pick their time, and one
user's memories never reach another."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from hearth.chat import ImportItem
from tests.utils.conversations import DAY, history, window_text


def test_a_fact_stated_200_turns_ago_is_recalled(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    start = time.time() - 30 * DAY
    said = {4: "My sister Alba lives in Reykjavik and keeps bees on her roof."}
    ids = services.chat.import_messages(user, conversation.id, history(240, start, said))
    window = services.chat.window(user, conversation.id, "Where does my sister Alba live?")
    text = window_text(window)
    assert "Reykjavik" in text
    recalled = {i for m in window.memories for i in m.message_ids}
    assert ids[4] in recalled, "the source of the memory is named"
    assert ids[4] not in next(b for b in window.blocks if b.name == "recent_turns").message_ids
    assert window.tokens + services.chat.context.reply_reserve <= services.model.n_ctx


def test_time_words_prefer_memories_of_that_time(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    now = time.time()
    old = [ImportItem("user", "I went hiking in the mountains with Tom.", now - 40 * DAY),
           ImportItem("assistant", "Lovely!", now - 40 * DAY + 60)]
    recent = [ImportItem("user", "I went hiking by the lake with Tom.", now - 1 * DAY),
              ImportItem("assistant", "Lovely!", now - 1 * DAY + 60)]
    services.chat.import_messages(user, conversation.id, old + recent + history(60, now - 0.5 * DAY))
    window = services.chat.window(user, conversation.id, "Where did we go hiking yesterday?")
    first = window.memories[0]
    assert "lake" in first.text


def test_user_b_memories_never_reach_user_a(start_services) -> None:  # noqa: ANN001
    services = start_services()
    alice, bob = services.user, services.store.people.ensure("Bob")
    secret = "My bank PIN is 4417 and I hide the spare key under the blue flowerpot."
    bobs = services.chat.start_conversation(bob, 1)
    services.chat.import_messages(bob, bobs.id, [ImportItem("user", secret, time.time() - DAY)])
    services.memory.add_fact(user_id=bob.id, character_id=1, text="Bob hides a key under a "
                             "blue flowerpot.", source_message_ids=[], said_at=time.time())
    alices = services.chat.start_conversation(alice, 1)
    services.chat.import_messages(alice, alices.id, history(20, time.time() - DAY))
    window = services.chat.window(alice, alices.id, "Where is the spare key hidden? What's my PIN?")
    text = window_text(window)
    assert "4417" not in text and "flowerpot" not in text
    assert all(not m.id.startswith("f") for m in window.memories)
    # Bob, asking the same, gets his own memory back.
    assert "4417" in window_text(services.chat.window(bob, bobs.id, "What's my bank PIN?"))


PLACES = ["서울", "대구", "인천", "광주", "대전", "울산", "수원", "전주"]
FOODS = ["김밥을", "라면을", "떡볶이를", "비빔밥을", "냉면을", "만두를"]


def test_korean_words_are_recalled_across_particles(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    start = time.time() - 20 * DAY
    # Forty-eight messages much like the one that matters: the embedder alone cannot tell.
    said = [f"어제 {place}에서 {food} 먹었어." for place in PLACES for food in FOODS]
    said[20] = "내 고양이 나비는 부산에서 데려왔어."
    items = [ImportItem(role, text if role == "user" else "그랬구나.", start + 1200 * i + k)
             for i, text in enumerate(said) for k, role in enumerate(("user", "assistant"))]
    ids = services.chat.import_messages(user, conversation.id, items)
    for question in ("고양이가 어디서 왔지?", "부산에서 데려온 애 이름이 뭐였지?"):
        found = services.memory.recall(question, user_id=user.id, character_id=1,
                                       now=datetime.now(UTC), exclude=set(),
                                       names=(user.name, "Nara"), limit=3)
        assert ids[40] in {i for m in found for i in m.message_ids}, question


def test_what_counts_as_strong_comes_from_the_embedder(start_services) -> None:  # noqa: ANN001
    """The "clearly related" line is the embedder's: moved, it changes which memories
    are marked strong, with the same model and index."""
    from dataclasses import replace
    from datetime import datetime

    from hearth.engines.embed import PROFILES, OnnxEmbedder
    from hearth.memory.recall import Recaller

    services = start_services()
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    said = {2: "My cat is called Miso.", 6: "The cat has not been eating much lately.",
            10: "I am moving to Lisbon next month."}
    services.chat.import_messages(user, conversation.id, history(60, time.time() - 9 * DAY, said))
    profile = PROFILES[services.memory.embedder.name]
    assert services.memory.recaller.embedder.strong_similarity == profile.strong_similarity

    def strong(line: float) -> set[str]:
        embedder = OnnxEmbedder(services.memory.embedder.model_dir,
                                replace(profile, strong_similarity=line))
        recaller = Recaller(store=services.store, index=services.memory.index, embedder=embedder)
        found = recaller.recall("What was my cat's name?", user_id=user.id, character_id=1,
                                now=datetime.now().astimezone(), exclude=set(), names=("", ""))
        return {r.text for r in found if r.strong}

    everything, usual, nothing = strong(-1.0), strong(profile.strong_similarity), strong(1.01)
    assert said[2] in usual
    # Above any line: the top of both the dense and the word lists is strong regardless.
    assert nothing <= usual < everything
