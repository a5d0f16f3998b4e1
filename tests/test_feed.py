"""The in-process feed of stored messages: per person, from any thread, bounded."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from hearth.feed import Feed
from hearth.store import Message


def message(n: int, conversation: int = 1) -> Message:
    return Message(id=n, conversation_id=conversation, role="assistant", swipes=[f"m{n}"],
                   swipe_index=0, status="complete", created_at=0.0, updated_at=0.0)


async def take(subscription: object, n: int) -> list[int]:
    got: list[int] = []
    async for m in subscription:  # type: ignore[attr-defined]
        got.append(m.id)
        if len(got) == n:
            break
    return got


def test_published_from_a_worker_thread_reaches_every_listener_of_that_person_only() -> None:
    feed = Feed()

    async def main() -> tuple[list[int], list[int], list[int]]:
        async with (feed.subscribe(1) as a, feed.subscribe(1) as b,
                    feed.subscribe(2) as other):
            assert feed.listeners(1) == 2

            def worker() -> None:
                for n in range(1, 51):
                    feed.publish(1, message(n))

            thread = threading.Thread(target=worker)
            thread.start()
            got = await asyncio.gather(take(a, 50), take(b, 50))
            thread.join()
            feed.publish(2, message(99))  # the other person's: theirs only
            return got[0], got[1], await take(other, 1)

    first, second, others = asyncio.run(main())
    assert first == second == list(range(1, 51))  # all of them, in order
    assert others == [99]
    assert feed.listeners(1) == feed.listeners(2) == 0  # unsubscribed on leaving


def test_listeners_on_two_event_loops_in_two_threads() -> None:
    feed = Feed()
    ready = threading.Barrier(3)
    results: dict[str, list[int]] = {}

    def listener(name: str) -> None:
        async def main() -> None:
            async with feed.subscribe(7) as s:
                ready.wait()
                results[name] = await take(s, 3)
        asyncio.run(main())

    threads = [threading.Thread(target=listener, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    ready.wait()
    for n in (1, 2, 3):
        feed.publish(7, message(n))
    for t in threads:
        t.join(timeout=60)
    assert results == {"x": [1, 2, 3], "y": [1, 2, 3]}


def test_a_listener_too_far_behind_is_ended_with_what_it_had() -> None:
    feed = Feed(limit=5)

    async def main() -> tuple[list[int], bool, list[int]]:
        async with feed.subscribe(1) as slow, feed.subscribe(1) as quick:
            for n in range(1, 9):  # the slow one reads nothing meanwhile
                feed.publish(1, message(n))
                assert await take(quick, 1) == [n]
            kept = [m.id async for m in slow]  # ends instead of growing
            return kept, slow.overflowed, [feed.listeners(1)]

    kept, overflowed, listeners = asyncio.run(main())
    assert kept == [1, 2, 3, 4, 5]
    assert overflowed
    assert listeners == [1]  # the quick one stays


def test_close_ends_every_listener_and_later_ones_at_once() -> None:
    feed = Feed()

    async def main() -> tuple[list[int], list[int]]:
        async with feed.subscribe(1) as s:
            reading = asyncio.create_task(take(s, 10))
            await asyncio.sleep(0)
            feed.publish(1, message(1))
            threading.Thread(target=feed.close).start()  # from another thread, like a signal
            before = await reading
        async with feed.subscribe(1) as late:
            after = [m.id async for m in late]
        return before, after

    assert asyncio.run(main()) == ([1], [])


def test_chat_publishes_greetings_turns_and_replies(start_services: Any) -> None:
    services = start_services()
    user = services.user
    character = services.store.characters.list()[0]

    async def main() -> list[tuple[str, str]]:
        async with services.feed.subscribe(user.id) as feed:
            conversation = services.chat.start_conversation(user, character.id)
            async for _ in services.chat.send(user, conversation.id, "Hello there!"):
                pass
            stored = services.store.messages.list(conversation.id)
            got = []
            async for m in feed:
                got.append(m)
                if len(got) == len(stored):
                    break
            assert got == stored  # as stored, in order
            return [(m.role, m.status) for m in got]

    roles = asyncio.run(main())
    assert roles[-2:] == [("user", "complete"), ("assistant", "complete")]
    assert roles[0][0] == "assistant"  # the greeting
