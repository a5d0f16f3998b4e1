"""Relationship memory end to end on the real models: recall, isolation, lorebook, facts, reuse."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import pytest

from hearth.chat import ImportItem, TurnFinished
from hearth.context import Window

DAY = 86400
FILLER = [
    "The weather was grey again this morning.", "I watched a documentary about octopuses.",
    "Work was fine, just a lot of meetings.", "We had pasta for dinner.",
    "I started reading a new mystery novel.", "The neighbours are painting their fence.",
    "I went for a short run in the park.", "My phone needs a new charger.",
]


def history(n: int, start: float, said: dict[int, str] | None = None) -> list[ImportItem]:
    """n turns, one every ten minutes from `start`; `said` puts given user lines at given turns."""
    items = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        text = (said or {}).get(i) or (FILLER[i % len(FILLER)] if role == "user"
                                       else "That sounds nice, tell me more.")
        items.append(ImportItem(role, text, start + i * 600))
    return items


def window_text(window: Window) -> str:
    return "\n".join(m.content for m in window.messages)


def replies(services: Any, user: Any, turns: list[tuple[int, str]]) -> list[TurnFinished]:
    """Send (conversation id, text) turns in order, letting background work finish after each."""
    async def run() -> list[TurnFinished]:
        done = []
        for conversation_id, content in turns:
            events = [e async for e in services.chat.send(user, conversation_id, content)]
            await services.jobs.join()
            done.append(events[-1])
        await services.jobs.close()
        return done

    return asyncio.run(run())


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
    alice, bob = services.user, services.store.ensure_user("Bob")
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


def test_index_is_rebuilt_after_its_directory_is_deleted(start_services, tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "rebuild"
    services = start_services(data)
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    said = {2: "My grandmother's name was Ilse and she baked rye bread."}
    services.chat.import_messages(user, conversation.id, history(80, time.time() - 9 * DAY, said))
    before = services.memory.index.count()
    services.close()
    shutil.rmtree(data / "memory")

    again = start_services(data)
    assert again.memory.index.count() == 0
    assert again.memory.catch_up() == before  # what the server runs at start-up
    window = again.chat.window(user, conversation.id, "What was my grandmother called?")
    assert "Ilse" in window_text(window)
    assert again.memory.reindex() == len(again.store.message_ids())


def test_lorebook_keys_trigger_entries_within_budget(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"lorebook_tokens": 40})
    book = {"entries": [
        {"keys": ["lighthouse"], "content": "The lighthouse on Gull Rock was built in 1871.",
         "enabled": True, "insertion_order": 1, "priority": 10},
        {"keys": ["lighthouse"], "content": " ".join(["Long lore text about the keepers."] * 12),
         "enabled": True, "insertion_order": 2, "priority": 1},
        {"keys": ["harbour"], "content": "The harbour freezes every February.",
         "enabled": True, "insertion_order": 3},
        {"keys": ["x"], "content": "Mira is afraid of thunder.", "constant": True,
         "enabled": True, "insertion_order": 0},
    ]}
    character = services.store.create_character(
        data={**services.store.get_character(1).data, "name": "Mira", "character_book": book},
        avatar=None)
    conversation = services.chat.start_conversation(services.user, character.id)
    window = services.chat.window(services.user, conversation.id, "Tell me about the lighthouse.")
    text = window_text(window)
    assert "built in 1871" in text
    assert "keepers" not in text  # over the lorebook budget, lower priority
    assert "freezes" not in text  # its key was not mentioned
    assert "afraid of thunder" in window.messages[0].content  # constant: with the card
    assert next(b for b in window.blocks if b.name == "lorebook").tokens <= 40


def test_turns_reuse_the_prompt_prefix(start_services) -> None:  # noqa: ANN001
    services = start_services(max_reply_tokens=24)
    services.settings.memory.background = False
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    services.chat.import_messages(user, conversation.id, history(30, time.time() - DAY))
    other = services.chat.start_conversation(user, 1)
    cid = conversation.id
    usages = [r.usage for r in replies(services, user, [
        (cid, "Hello again!"), (cid, "What should I cook tonight?"),
        (cid, "Thanks, and for dessert?"),
        # A second conversation in between: the first one's cache is parked and restored.
        (other.id, "Hi, a different chat."), (cid, "Back to our chat: any ideas for Sunday?"),
    ])]
    # The first turn packs a fresh window (a rebase) whose large recall is not kept, so
    # the second re-evaluates from the first message; from then on the prefix holds.
    for usage in (usages[2], usages[4]):
        assert usage.prompt_tokens_reused > 0.7 * usage.prompt_tokens
        assert usage.prompt_tokens_evaluated < 150


def test_background_writes_facts_and_summary(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"summary_tokens": 48}, max_reply_tokens=48)
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    services.chat.import_messages(user, conversation.id, history(110, time.time() - DAY))
    said = "My name is Dana, I work as a nurse in Porto and I have two cats."
    replies(services, user, [(conversation.id, said)])
    facts = services.store.list_facts(user_id=user.id)
    message_id = services.store.list_messages(conversation.id)[-2].id
    assert facts, "the chat model should extract at least one fact"
    assert all(f.source_message_ids == [message_id] for f in facts)
    # Extraction again adds nothing: facts are deduplicated.
    message = services.store.list_messages(conversation.id)[-2]
    again = asyncio.run(services.memory.extract_facts(message, user=user.name, user_id=user.id,
                                                      character_id=1))
    assert again == [] and len(services.store.list_facts(user_id=user.id)) == len(facts)
    # The window overflowed, so the turns that left it are summarised.
    summary = services.store.get_summary(conversation.id)
    assert summary is not None and summary[0] and summary[1] >= 1
    # The facts are in the profile block of the next window that starts afresh.
    fresh = services.chat.start_conversation(user, 1)
    window = services.chat.window(user, fresh.id, "Do you remember me?")
    assert facts[0].text in window.messages[0].content
    assert next(b for b in window.blocks if b.name == "profile").tokens > 0


@pytest.mark.parametrize("content", ["", "   "])
def test_context_of_an_empty_message_is_refused(start_services, content: str) -> None:  # noqa: ANN001
    from hearth.errors import InvalidInput

    services = start_services()
    conversation = services.chat.start_conversation(services.user, 1)
    with pytest.raises(InvalidInput):
        services.chat.window(services.user, conversation.id, content)


def test_deleted_conversations_and_characters_leave_the_index(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user, memory = services.user, services.memory
    character = services.store.create_character(
        data={**services.store.get_character(1).data, "name": "Otto"}, avatar=None)
    kept = services.chat.start_conversation(user, character.id)
    gone = services.chat.start_conversation(user, character.id)
    other = services.chat.start_conversation(user, 1)
    services.chat.import_messages(user, kept.id, history(6, time.time() - DAY))
    ids = services.chat.import_messages(user, gone.id, history(6, time.time() - DAY))
    services.store.set_summary(gone.id, text="They talked about octopuses.", upto_message_id=ids[-1])
    memory._index_summary(gone.id)
    fact = memory.add_fact(user_id=user.id, character_id=character.id,
                           text="User keeps an octopus.", source_message_ids=[ids[0]],
                           said_at=time.time())
    indexed = memory.index.indexed_ids()
    assert {f"m{i}" for i in ids} | {f"s{gone.id}"} <= indexed

    services.conversations.delete(user, gone.id)  # what DELETE /api/conversations/{id} runs
    left = memory.index.indexed_ids()
    assert not ({f"m{i}" for i in ids} | {f"s{gone.id}"}) & left
    assert {f"m{m.id}" for m in services.store.list_messages(kept.id)} <= left

    services.characters.delete(character.id)  # DELETE /api/characters/{id}
    others = {f"m{m.id}" for m in services.store.list_messages(other.id)}
    assert memory.index.indexed_ids() == others, "Otto's messages and fact go, Ember's stay"
    assert fact is not None and f"f{fact.id}" in left - others


def test_edited_and_deleted_messages_follow_in_the_index(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user, index = services.user, services.memory.index
    conversation = services.conversations.start(user, 1).conversation
    said, reply = services.chat.import_messages(user, conversation.id, [
        ImportItem("user", "My bicycle is green.", time.time() - DAY),
        ImportItem("assistant", "A green bicycle, lovely.", time.time() - DAY + 5)])

    def indexed_text(message_id: int) -> str | None:
        found = index.get([f"m{message_id}"])
        return found[0].text if found else None

    assert indexed_text(said) == "My bicycle is green."
    # PATCH /api/messages/{id}: the index holds the new wording, not the old one.
    services.conversations.edit_message(user, said, content="My bicycle is red.")
    assert indexed_text(said) == "My bicycle is red."
    greeting = services.conversations.messages(user, conversation.id)[0]
    assert len(greeting.swipes) > 1
    services.conversations.edit_message(user, greeting.id, swipe_index=1)
    assert indexed_text(greeting.id) == services.store.get_message(greeting.id,
                                                                   user_id=user.id).content
    # DELETE /api/messages/{id}: it leaves the index too.
    services.conversations.delete_message(user, reply)
    assert indexed_text(reply) is None and indexed_text(said) is not None
