"""One chat turn (`hearth.chat.Chat`) on the real model, below the HTTP API: what is stored
when, the order of the streamed events, swipes, the content limits, a reply cut short, and
the background indexing of a finished turn.

The API tests (tests/api/routes/test_conversations.py) cover the same turns as a client
sees them; these look at the store and the index at each step.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest

from hearth.chat import ImportItem, ReplyDelta, TurnEvent, TurnFinished, TurnStarted
from hearth.errors import Conflict, InvalidInput, TooLarge
from hearth.memory import ids as memory_ids


def run(services: Any, work: Any) -> Any:
    """Run the coroutine `work`, then stop the background worker it may have started (it
    belongs to this event loop)."""
    async def main() -> Any:
        try:
            return await work
        finally:
            await services.jobs.close()

    return asyncio.run(main())


async def collect(events: Any) -> list[TurnEvent]:
    async with aclosing(events) as stream:
        return [event async for event in stream]


def test_the_user_message_is_stored_before_the_reply_starts(start_services) -> None:  # noqa: ANN001
    services = start_services(max_reply_tokens=24)
    services.settings.memory.background = False
    user, store = services.user, services.store
    conversation = services.chat.start_conversation(user, 1)
    (greeting,) = store.messages.list(conversation.id)
    seen: list[tuple[str, list[int]]] = []

    async def turn() -> list[TurnEvent]:
        events = []
        async with aclosing(services.chat.send(user, conversation.id, "Good morning!")) as stream:
            async for event in stream:
                # What the store holds as each event arrives.
                seen.append((type(event).__name__,
                             [m.id for m in store.messages.list(conversation.id)]))
                events.append(event)
        return events

    events = run(services, turn())
    started, finished = events[0], events[-1]
    assert isinstance(started, TurnStarted) and isinstance(finished, TurnFinished)
    said = started.user_message
    assert said is not None and said.role == "user" and said.content == "Good morning!"
    # Committed before the first piece of the reply, and the reply only once it is finished.
    assert seen[0] == ("TurnStarted", [greeting.id, said.id])
    assert all(ids == [greeting.id, said.id] for kind, ids in seen if kind == "ReplyDelta")
    assert seen[-1] == ("TurnFinished", [greeting.id, said.id, finished.message.id])
    assert store.messages.get(said.id, user_id=user.id) == said


def test_events_come_in_order_and_the_reply_is_what_was_streamed(start_services) -> None:  # noqa: ANN001
    services = start_services(max_reply_tokens=32)
    services.settings.memory.background = False
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    events = run(services, collect(services.chat.send(user, conversation.id,
                                                      "Tell me about your favourite book.")))
    kinds = [type(e) for e in events]
    assert kinds[0] is TurnStarted and kinds[-1] is TurnFinished
    assert set(kinds[1:-1]) == {ReplyDelta}, "only deltas between the start and the end"
    deltas = [e.text for e in events if isinstance(e, ReplyDelta)]
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.message.role == "assistant" and finished.message.status == "complete"
    assert finished.message.content == "".join(deltas).strip() != ""
    assert finished.usage.completion_tokens <= 32
    # The window the turn was built from ends with the new message.
    started = events[0]
    assert isinstance(started, TurnStarted)
    assert started.window.messages[-1].content.endswith("Tell me about your favourite book.")


def test_a_reply_closed_early_keeps_what_was_said_as_interrupted(start_services) -> None:  # noqa: ANN001
    services = start_services()
    services.settings.memory.background = False
    user, store = services.user, services.store
    conversation = services.chat.start_conversation(user, 1)

    async def leave_after_three_pieces() -> list[str]:
        pieces: list[str] = []
        stream = services.chat.send(user, conversation.id,
                                    "Please tell me a very long story about a dragon.")
        async with aclosing(stream):
            async for event in stream:
                if isinstance(event, ReplyDelta):
                    pieces.append(event.text)
                    if len(pieces) == 3:
                        break  # the reader goes away, as a client that hangs up
        return pieces

    pieces = run(services, leave_after_three_pieces())
    reply = store.messages.list(conversation.id)[-1]
    assert reply.role == "assistant" and reply.status == "interrupted"
    assert reply.content == "".join(pieces).strip()


def test_regenerate_adds_a_swipe_to_the_last_reply(start_services) -> None:  # noqa: ANN001
    services = start_services(max_reply_tokens=24)
    services.settings.memory.background = False
    user, store = services.user, services.store
    conversation = services.chat.start_conversation(user, 1)

    async def turns() -> tuple[list[TurnEvent], list[TurnEvent]]:
        sent = await collect(services.chat.send(user, conversation.id, "Hello there!"))
        again = await collect(services.chat.regenerate(user, conversation.id))
        return sent, again

    sent, again = run(services, turns())
    first = sent[-1]
    started, finished = again[0], again[-1]
    assert isinstance(first, TurnFinished) and isinstance(finished, TurnFinished)
    assert isinstance(started, TurnStarted) and started.user_message is None
    # The same message, one more alternative, and the new one shown.
    reply = finished.message
    assert reply.id == first.message.id
    assert reply.swipes[0] == first.message.content and len(reply.swipes) == 2
    assert reply.swipe_index == 1
    assert [m.role for m in store.messages.list(conversation.id)] == ["assistant", "user",
                                                                      "assistant"]
    # The regenerated prompt answers the same user message, without the old reply.
    assert started.window.messages[-1].content.endswith("Hello there!")


def test_regenerate_answers_a_lone_user_message_and_refuses_an_empty_conversation(
        start_services) -> None:  # noqa: ANN001
    services = start_services(max_reply_tokens=24)
    services.settings.memory.background = False
    user, store = services.user, services.store
    conversation = services.chat.start_conversation(user, 1)
    said = store.messages.add(conversation_id=conversation.id, role="user",
                              content="Are you awake?")
    events = run(services, collect(services.chat.regenerate(user, conversation.id)))
    reply = events[-1]
    assert isinstance(reply, TurnFinished)
    assert reply.message.role == "assistant" and len(reply.message.swipes) == 1
    assert store.messages.list(conversation.id)[-2:] == [said, reply.message]

    # Only the greeting, or nothing at all: there is nothing to answer.
    greeted = services.chat.start_conversation(user, 1)
    card = {**store.characters.get(1).data, "name": "Quiet", "first_mes": "",
            "alternate_greetings": []}
    quiet = store.characters.create(data=card, avatar=None)
    silent = services.chat.start_conversation(user, quiet.id)
    assert store.messages.list(silent.id) == []
    for conversation_id, words in ((greeted.id, "only the greeting"), (silent.id, "no messages")):
        with pytest.raises(Conflict, match=words):
            run(services, collect(services.chat.regenerate(user, conversation_id)))
    assert len(store.messages.list(greeted.id)) == 1 and store.messages.list(silent.id) == []


@pytest.mark.parametrize("content", ["", "   "])
def test_context_of_an_empty_message_is_refused(start_services, content: str) -> None:  # noqa: ANN001
    services = start_services()
    conversation = services.chat.start_conversation(services.user, 1)
    with pytest.raises(InvalidInput):
        services.chat.window(services.user, conversation.id, content)


def test_content_limits_refuse_before_anything_is_stored(start_services) -> None:  # noqa: ANN001
    services = start_services()
    chat, user, store = services.chat, services.user, services.store
    services.settings.limits.max_message_chars = 40
    conversation = chat.start_conversation(user, 1)
    before = store.messages.list(conversation.id)

    assert chat.check_content("x" * 40) == "x" * 40  # the limit itself is allowed
    with pytest.raises(TooLarge, match=r"41 characters; the limit is 40 \(limits\.max_message"):
        chat.check_content("x" * 41)
    with pytest.raises(InvalidInput, match="empty"):
        chat.check_content("\n\t ")
    for content, error in (("x" * 41, TooLarge), (" ", InvalidInput)):
        with pytest.raises(error):
            run(services, collect(chat.send(user, conversation.id, content)))
    # An import is all or nothing, and names the message at fault.
    items = [ImportItem("user", "Fine.", 1.0), ImportItem("assistant", "y" * 41, 2.0)]
    with pytest.raises(TooLarge, match=r"messages\[1\]"):
        chat.import_messages(user, conversation.id, items)
    with pytest.raises(InvalidInput, match=r"messages\[0\]"):
        chat.import_messages(user, conversation.id, [ImportItem("user", "", 1.0)])
    assert store.messages.list(conversation.id) == before


def test_sampling_honours_a_clients_choices(start_services) -> None:  # noqa: ANN001
    """A client's max_tokens above the reply reserve is honoured, never silently cut (the
    turn's own prompt is checked against it later); more than the whole window is refused."""
    services = start_services(max_reply_tokens=48)
    chat = services.chat
    configured = chat.sampling()
    assert configured.max_tokens == 48 and configured.temperature == 0.0 and configured.seed == 7
    chosen = chat.sampling(max_tokens=300, temperature=0.5, top_p=0.5, stop=["", "\n"], seed=3)
    assert chosen.max_tokens == 300
    assert (chosen.temperature, chosen.top_p, chosen.seed) == (0.5, 0.5, 3)
    assert chosen.stop == ("\n",)
    assert chat.sampling(max_tokens=20).max_tokens == 20
    with pytest.raises(InvalidInput, match="max_tokens"):
        chat.sampling(max_tokens=services.model.n_ctx)


def test_a_named_thread_keeps_its_conversation(start_services) -> None:  # noqa: ANN001
    services = start_services()
    chat, user, store = services.chat, services.user, services.store
    other = store.characters.create(data={**store.characters.get(1).data, "name": "Otto"},
                                    avatar=None)
    kitchen = chat.conversation_for(user, 1, thread="kitchen")
    assert chat.conversation_for(user, 1, thread="kitchen").id == kitchen.id
    hall = chat.conversation_for(user, 1, thread="hall")
    assert hall.id != kitchen.id
    # Without a thread: the latest conversation with that character.
    assert chat.conversation_for(user, 1).id == hall.id
    assert chat.conversation_for(user, other.id).character_id == other.id
    with pytest.raises(InvalidInput, match="not with Otto"):
        chat.conversation_for(user, other.id, conversation_id=kitchen.id)


def test_cut_reply_keeps_only_what_was_heard(start_services) -> None:  # noqa: ANN001
    services = start_services()
    services.settings.memory.background = False
    user, store, index = services.user, services.store, services.memory.index
    conversation = services.chat.start_conversation(user, 1)

    async def turn(text: str) -> tuple[int, TurnFinished]:
        events = await collect(services.chat.send(user, conversation.id, text))
        started, finished = events[0], events[-1]
        assert isinstance(started, TurnStarted) and isinstance(finished, TurnFinished)
        assert started.user_message is not None
        await services.jobs.join()
        return started.user_message.id, finished

    async def cut(said_id: int, heard: str) -> Any:
        reply = services.chat.cut_reply(user, said_id, heard)
        await services.jobs.join()  # the index follows the cut
        return reply

    said_id, finished = run(services, turn("Tell me about the sea."))
    heard = " ".join(finished.message.content.split()[:2])
    reply = run(services, cut(said_id, f"  {heard} "))
    assert reply is not None and reply.id == finished.message.id
    assert reply.content == heard and reply.status == "interrupted"
    assert store.messages.list(conversation.id)[-1] == reply
    assert {memory_ids.message(said_id), memory_ids.message(reply.id)} <= index.indexed_ids()

    # Nothing heard: the reply goes, from the store and from the index.
    said_id, finished = run(services, turn("And about the mountains?"))
    assert memory_ids.message(finished.message.id) in index.indexed_ids()
    assert run(services, cut(said_id, "")) is None
    assert store.messages.list(conversation.id)[-1].id == said_id
    assert memory_ids.message(finished.message.id) not in index.indexed_ids()
    # No reply after the message (it is the last one): nothing to cut.
    assert run(services, cut(said_id, "anything")) is None


def test_a_finished_turn_is_indexed_in_the_background(start_services) -> None:  # noqa: ANN001
    services = start_services(max_reply_tokens=24)
    services.settings.memory.background = False
    user, index = services.user, services.memory.index
    conversation = services.chat.start_conversation(user, 1)

    async def turn() -> tuple[set[str], list[TurnEvent]]:
        events = await collect(services.chat.send(user, conversation.id,
                                                  "My brother Ivo repairs clocks."))
        await services.jobs.join()
        return index.indexed_ids(), events

    indexed, events = run(services, turn())
    started, finished = events[0], events[-1]
    assert isinstance(started, TurnStarted) and started.user_message is not None
    assert isinstance(finished, TurnFinished)
    assert {memory_ids.message(started.user_message.id), memory_ids.message(finished.message.id)} <= indexed


def test_a_draft_stores_nothing_and_a_reply_can_go_on_from_it(start_services) -> None:  # noqa: ANN001
    services = start_services(max_reply_tokens=32)
    services.settings.memory.background = False
    user, chat = services.user, services.chat
    conversation = chat.start_conversation(user, 1)
    before = services.store.messages.list(conversation.id)

    async def begin() -> str:
        text = ""
        async with aclosing(chat.draft(user, conversation.id, "Tell me about the sea.")) as d:
            async for delta in d:
                text += delta
                if len(text.split()) >= 3:
                    break  # the voice loop stops at its first speakable piece
        return text

    begun = run(services, begin())
    assert begun.strip() and services.store.messages.list(conversation.id) == before
    events = run(services, collect(chat.send(user, conversation.id, "Tell me about the sea.",
                                             reply_start=begun)))
    deltas = [e.text for e in events if isinstance(e, ReplyDelta)]
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and deltas[0] == begun
    said, reply = services.store.messages.list(conversation.id)[-2:]
    assert said.content == "Tell me about the sea." and reply.id == finished.message.id
    assert reply.content == "".join(deltas).strip() and reply.content.startswith(begun.strip())
    # The text said ahead counts against the reply's length.
    assert finished.usage.completion_tokens <= 32 - services.model.count(begun)
