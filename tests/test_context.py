"""The window packer on the real tokenizer: never over the context, newest turns kept, lore
within its budget, and each turn reusing the prompt prefix of the last."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from hearth.chat import TurnFinished, TurnStarted
from hearth.engines.llm.kv_slots import shared_prefix
from hearth.errors import TooLarge
from tests.utils.conversations import DAY, FILLER, history, replies, window_text

TOPICS = ["the garden", "a trip to Lisbon", "my sister's wedding", "the new job", "jazz records",
          "a broken bicycle", "learning Korean", "the cat, Miso", "rainy Sundays", "chess"]


def test_300_message_conversation_never_exceeds_the_context(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.user
    character = services.store.characters.list()[0]
    conversation = services.chat.start_conversation(user, character.id)
    builder = services.chat.context
    n_ctx = services.model.n_ctx
    dropped_any = False
    for i in range(300):
        role = "user" if i % 2 == 0 else "assistant"
        content = f"Message {i}: let's talk about {TOPICS[i % len(TOPICS)]}. " * (1 + i % 4)
        services.store.messages.add(conversation_id=conversation.id, role=role, content=content)
        if i % 10 != 9:
            continue
        question = f"What did we say about {TOPICS[i % len(TOPICS)]}?"
        window = services.chat.window(user, conversation.id, question)
        # Exact: the prompt is the tokenizer's count of the whole rendered window.
        assert window.tokens == len(services.model.render(window.messages).tokens)
        assert window.tokens + builder.reply_reserve <= n_ctx
        assert window.messages[0].role == "system" and character.name in window.messages[0].content
        assert window.messages[-1].content.endswith("\n\n" + question)
        history = services.store.messages.list(conversation.id)
        kept = next(b for b in window.blocks if b.name == "recent_turns").message_ids
        assert kept == tuple(m.id for m in history[len(history) - len(kept):]), "newest turns kept"
        dropped_any |= window.turns_dropped > 0
    assert dropped_any, "the test should overflow the window"
    # The packed window really runs: one reply on top of the 300 messages.
    async def reply() -> TurnFinished:
        events = [e async for e in services.chat.send(user, conversation.id, "And chess?")]
        return events[-1]

    finished = asyncio.run(reply())
    assert isinstance(finished, TurnFinished) and finished.message.status == "complete"
    assert finished.usage.prompt_tokens > n_ctx // 2
    assert finished.usage.prompt_tokens + finished.usage.completion_tokens <= n_ctx


def test_a_message_too_long_for_the_window_is_refused(start_services) -> None:  # noqa: ANN001
    services = start_services()
    conversation = services.chat.start_conversation(services.user, 1)
    before = services.store.messages.list(conversation.id)
    with pytest.raises(TooLarge, match="shorten it"):
        services.chat.window(services.user, conversation.id, "word " * 3000)
    assert services.store.messages.list(conversation.id) == before


def test_each_turn_extends_the_last_prompt_so_llama_cpp_reuses_it(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.user
    conversation = services.chat.start_conversation(user, 1)

    async def turn(text: str) -> tuple[TurnStarted, TurnFinished]:
        events = [e async for e in services.chat.send(user, conversation.id, text)]
        return events[0], events[-1]

    previous = None
    for n, text in enumerate(["Hello!", "I had a long day at work.", "My sister called me.",
                              "Tell me something cheerful."]):
        started, finished = asyncio.run(turn(text))
        prompt = started.window.prompt.text
        if previous is not None:
            # The earlier prompt and its reply are a prefix of this one, byte for byte.
            assert prompt.startswith(previous)
            evaluated = finished.usage.prompt_tokens - finished.usage.prompt_tokens_reused
            assert evaluated <= services.model.count(text) + 24, (n, evaluated)
        previous = prompt + finished.message.content


def test_a_prepared_message_starts_without_evaluating_its_prompt(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.user
    conversation = services.chat.start_conversation(user, 1)

    async def turn(text: str, prepare: bool) -> TurnFinished:
        if prepare:  # as the voice loop does while the user pauses
            await services.chat.prepare(user, conversation.id, text)
        events = [e async for e in services.chat.send(user, conversation.id, text)]
        return events[-1]

    cold = asyncio.run(turn("My sister Alba called me today from Iceland.", prepare=False))
    warm = asyncio.run(turn("She keeps bees there, and they made honey this year.", prepare=True))
    assert cold.usage.prompt_tokens_evaluated > 10
    assert warm.usage.prompt_tokens_evaluated <= 1  # only the last token, for fresh logits
    stored = services.store.messages.list(conversation.id)
    assert [m.content for m in stored if m.role == "user"][-1].startswith("She keeps bees")


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
    character = services.store.characters.create(
        data={**services.store.characters.get(1).data, "name": "Mira", "character_book": book},
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
    services = start_services(memory={"background": False}, max_reply_tokens=24)
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


def test_a_full_window_drops_its_oldest_turns_without_evaluating_the_rest(start_services) -> None:  # noqa: ANN001
    # Recent turns fill the first window, so the next turns overflow it at once.
    services = start_services(memory={"background": False, "recent_share": 1.0},
                              max_reply_tokens=24)
    user = services.user
    cid = services.chat.start_conversation(user, 1).id
    services.chat.import_messages(user, cid, history(120, time.time() - DAY))
    first = services.chat.window(user, cid, "Hello again!")
    assert first.rebased
    replies(services, user, [(cid, "Hello again!")])
    before = services.store.windows.find(cid)
    # What the summary job writes in the background by now, covering the oldest turns.
    services.store.summaries.set(cid, text="They talked about gardens, jazz and Lisbon.",
                                 upto_message_id=before.start_message_id + 40)

    shifted = None
    for text in ["What should I cook tonight?", "Thanks, and for dessert?", "Any ideas for Sunday?",
                 "Tell me about your week.", "What music do you like?"]:
        window = services.chat.window(user, cid, text)
        [done] = replies(services, user, [(cid, text)])
        if window.shifted:
            shifted = (window, done)
            break
    assert shifted is not None, "the turns should overflow the window"
    window, done = shifted
    after = services.store.windows.find(cid)
    # The system message stays byte for byte; the kept turns are moved, not evaluated again.
    assert window.messages[0].content == services.chat.window(user, cid, "x").messages[0].content
    assert (after.profile, after.summary) == (before.profile, before.summary)
    assert after.start_message_id > before.start_message_id
    assert done.usage.prompt_tokens_evaluated < 200, done.usage
    assert done.usage.prompt_tokens_reused > 0.6 * done.usage.prompt_tokens
    # The newer summary rides in the new turn's note, stored with it for later turns.
    assert "gardens, jazz and Lisbon" in window.messages[-1].content
    note = services.store.notes.in_conversation(cid)[done.message.id - 1]
    assert "gardens, jazz and Lisbon" in note.text
    later = services.chat.window(user, cid, "And tomorrow?")
    assert not later.shifted and later.messages[0] == window.messages[0]
    assert sum("gardens, jazz and Lisbon" in m.content for m in later.messages) == 1


def test_a_coming_shift_is_made_while_the_reply_is_read(start_services) -> None:  # noqa: ANN001
    # As above, but the window fills a few turns after the summary is written, and the
    # summary riding in the shifting turn's note is long: made ahead, between turns, the
    # shift leaves that turn only its message and memories to evaluate.
    services = start_services(memory={"background": False, "recent_share": 0.85},
                              max_reply_tokens=24)
    user = services.user
    cid = services.chat.start_conversation(user, 1).id
    services.chat.import_messages(user, cid, history(120, time.time() - DAY))
    replies(services, user, [(cid, "Hello again!")])
    before = services.store.windows.find(cid)
    recap = " ".join(f"They talked about {topic}, at length and more than once."
                     for topic in TOPICS)
    services.store.summaries.set(cid, text=recap, upto_message_id=before.start_message_id + 40)

    async def until_shift() -> tuple[list[bool], TurnFinished]:
        shifts = []
        for topic in TOPICS:
            text = f"Shall we talk about {topic} again?"
            window = await asyncio.to_thread(services.chat.window, user, cid, text)
            events = [e async for e in services.chat.send(user, cid, text)]
            await services.jobs.join()  # the person reads the reply: a shift is made now
            shifts.append(window.shifted)
            if window.shifted:
                assert recap in window.messages[-1].content
                break
        await services.jobs.close()
        return shifts, events[-1]

    shifts, done = asyncio.run(until_shift())
    assert shifts[-1], "the turns should fill the window"
    assert len(shifts) > 1, "the window should fill after the summary is written"
    assert done.usage.prompt_tokens_evaluated < services.model.count(recap), done.usage


def test_a_new_conversation_is_prepared_while_the_greeting_is_read(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"background": False})
    user = services.user
    # A card of its own: no other test's cache shares its text.
    card = {**services.store.characters.get(1).data, "name": f"Wren {uuid.uuid4().hex[:8]}",
            "first_mes": "Oh, hello there! Come in, the tea is still warm."}
    character = services.store.characters.create(data=card, avatar=None)

    async def first_turn() -> tuple[TurnStarted, TurnFinished]:
        conversation = services.chat.start_conversation(user, character.id)
        await services.jobs.join()  # the person reads the greeting
        events = [e async for e in services.chat.send(user, conversation.id, "Hi! I'm back.")]
        await services.jobs.close()
        return events[0], events[-1]

    started, finished = asyncio.run(first_turn())
    window = started.window
    head = shared_prefix(services.model.render(window.messages[:2]).tokens, window.prompt.tokens)
    assert head > 50  # the system message and the greeting
    # and the first note's start: the clock (a first talk with this character) leads it
    assert window.messages[-1].content.startswith("[Now: ")
    assert finished.usage.prompt_tokens_reused >= head + 8


def test_a_new_conversations_first_recall_is_sized_to_the_prompt_speed(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"background": False})
    user = services.user
    past = services.chat.start_conversation(user, 1)
    # Each line its own (a note says the same words once): the same things, on 40 days.
    said = {i: f"{FILLER[i // 2 % len(FILLER)]} That was on day {i // 2}."
            for i in range(0, 80, 2)}
    services.chat.import_messages(user, past.id, history(80, time.time() - 7 * DAY, said))
    new = services.chat.start_conversation(user, 1)
    question = "Did I tell you about the documentary, the novel and my run in the park?"

    def memory_tokens(speed: float | None) -> int:
        services.model.prompt_speed = speed
        window = services.chat.window(user, new.id, question)
        return next(b.tokens for b in window.blocks if b.name == "memories")

    # 40,000 tokens/s: 10,000 in 250 ms, more than any free room here (at 4,000 the share,
    # 1,000, fell just short of the free room on some days, and only strong matches went).
    unmeasured, slow, fast = memory_tokens(None), memory_tokens(40.0), memory_tokens(40_000.0)
    turn_share = services.settings.memory.turn_recall_tokens
    assert 0 < slow <= turn_share  # 40 tokens/s: 10 in 250 ms, so an ordinary turn's share
    assert fast > 4 * turn_share and unmeasured > 4 * turn_share  # a GPU: the free room
    # A conversation with turns of its own packs its whole free room when rebuilt.
    services.model.prompt_speed = 40.0
    window = services.chat.window(user, past.id, question)
    assert next(b.tokens for b in window.blocks if b.name == "memories") > 4 * turn_share


def test_the_owner_measures_prompt_speed_from_real_turns(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"background": False})
    services.model.prompt_speed = None
    conversation = services.chat.start_conversation(services.user, 1)
    replies(services, services.user, [(conversation.id, "Hello! " * 40)])
    assert services.model.prompt_speed is not None and services.model.prompt_speed > 0


def test_a_new_conversations_preparation_measures_prompt_speed(start_services) -> None:  # noqa: ANN001
    # A fresh server's first conversation: its preparation is the first evaluation, and
    # the first turn's recall is sized by what it measured, not the whole free room.
    services = start_services(memory={"background": False})
    services.model.prompt_speed = None
    card = {**services.store.characters.get(1).data, "name": f"Moss {uuid.uuid4().hex[:8]}"}
    character = services.store.characters.create(data=card, avatar=None)

    async def prepare() -> None:
        services.chat.start_conversation(services.user, character.id)
        await services.jobs.join()
        await services.jobs.close()

    asyncio.run(prepare())
    assert services.model.prompt_speed is not None and services.model.prompt_speed > 0


def test_a_note_does_not_say_what_the_window_already_says(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"background": False})
    user, chat, memory = services.user, services.chat, services.memory
    card = {**services.store.characters.get(1).data, "name": f"Juniper {uuid.uuid4().hex[:8]}",
            "first_mes": "Welcome back! Sit down, tell me everything."}
    character = services.store.characters.create(data=card, avatar=None)
    # Weeks of talk in which the same words come back: the greeting of every
    # conversation, a job told on three days, a fact the profile shows.
    for week in range(3):
        past = chat.start_conversation(user, character.id)
        chat.import_messages(user, past.id, history(12, time.time() - (21 - 7 * week) * DAY, {
            0: "I work night shifts as a nurse at the city hospital.",
            4: "My sister Alba keeps bees in Reykjavik."}))
    sister = next(m for m in services.store.messages.list(past.id) if "Alba" in m.content)
    fact = memory.add_fact(user_id=user.id, character_id=character.id,
                           text="User's sister Alba keeps bees in Reykjavik.",
                           source_message_ids=[sister.id], said_at=sister.created_at)
    assert fact is not None
    new = chat.start_conversation(user, character.id)

    window = chat.window(user, new.id, "Do you remember my night shifts and my sister's bees?")
    note = window.messages[-1].content
    lines = [line for line in note.splitlines()[1:] if ": " in line and line[0] != "["]
    assert any("night shifts" in line for line in lines), note  # recalled...
    assert len(lines) == len(set(lines)), note  # ...once, though said on three days
    assert card["first_mes"] not in note  # the window's own greeting is not recalled again
    assert fact.text in window.messages[0].content  # the profile shows the fact...
    assert f"(fact) {fact.text}" not in note  # ...so the note does not
