"""The model's queue: people take turns, the queue is bounded, and leaving frees a place."""

from __future__ import annotations

import asyncio

import pytest

from hearth.engines.fairlock import FairLock
from hearth.engines.llm import ChatMessage, Finished, LlamaModel, ModelOwner, SamplingParams
from hearth.errors import Busy


def test_owners_take_turns_and_keep_their_own_order() -> None:
    async def run() -> list[str]:
        lock, served = FairLock(), []

        async def request(owner: str, name: str) -> None:
            await lock.acquire(owner)
            served.append(name)
            await asyncio.sleep(0.01)
            lock.release()

        await lock.acquire("first")  # busy: everyone below queues
        tasks = [asyncio.create_task(request(o, n)) for o, n in
                 [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1"), ("c", "c1"), ("b", "b2")]]
        await asyncio.sleep(0.01)
        assert lock.waiting() == 6 and lock.waiting("a") == 3
        lock.release()
        await asyncio.gather(*tasks)
        assert lock.waiting() == 0
        return served

    assert asyncio.run(run()) == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_a_request_that_leaves_while_waiting_frees_its_place() -> None:
    async def run() -> None:
        lock = FairLock()
        await lock.acquire("a")
        leaving = asyncio.create_task(lock.acquire("b"))
        staying = asyncio.create_task(lock.acquire("c"))
        await asyncio.sleep(0.01)
        leaving.cancel()
        await asyncio.sleep(0.01)
        assert lock.waiting() == 1 and lock.waiting("b") == 0
        lock.release()
        await asyncio.wait_for(staying, 1)
        lock.release()
        await asyncio.wait_for(lock.acquire("d"), 1)  # free again

    asyncio.run(run())


def _prompt(owner: ModelOwner, text: str):  # noqa: ANN202
    return owner.render([ChatMessage("user", text)])


def test_model_requests_are_served_fairly_and_bounded(llama: LlamaModel) -> None:
    async def run() -> None:
        owner = ModelOwner(llama, queue_size=6, queue_per_user=3)
        params = SamplingParams(max_tokens=16, temperature=0.0)
        finished: list[str] = []

        async def ask(user: int, name: str) -> None:
            prompt = _prompt(owner, f"{name}: count from 1 to 100.")
            async for item in owner.stream(prompt, params, user=user):
                if isinstance(item, Finished):
                    finished.append(name)

        tasks = [asyncio.create_task(ask(u, n)) for u, n in
                 [(1, "a1"), (1, "a2"), (1, "a3"), (1, "a4"), (2, "b1")]]
        await asyncio.sleep(0.05)
        # a1 runs, a2-a4 wait: Alice's share is full, Bob may still queue.
        with pytest.raises(Busy, match="you already have 3 requests"):
            owner.check_capacity(1)
        owner.check_capacity(2)
        tasks.append(asyncio.create_task(ask(3, "c1")))
        tasks.append(asyncio.create_task(ask(4, "d1")))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy, match="busy with 6 waiting"):
            owner.check_capacity(5)
        await asyncio.gather(*tasks)
        assert finished == ["a1", "a2", "b1", "c1", "d1", "a3", "a4"]

    asyncio.run(run())


def test_an_admitted_request_is_not_refused_when_the_queue_fills_meanwhile(
    llama: LlamaModel,
) -> None:
    # A turn checks capacity, stores the user's message, then streams; others may fill the
    # queue in between. Refusing it then would leave a stored message with no reply.
    async def run() -> list[str]:
        owner = ModelOwner(llama, queue_size=1, queue_per_user=1)
        params = SamplingParams(max_tokens=4, temperature=0.0)
        finished: list[str] = []

        async def ask(user: int, name: str) -> None:
            async for item in owner.stream(_prompt(owner, name), params, user=user):
                if isinstance(item, Finished):
                    finished.append(name)

        owner.check_capacity(1)  # admitted: the queue is empty
        tasks = [asyncio.create_task(ask(2, "b1")), asyncio.create_task(ask(3, "c1"))]
        await asyncio.sleep(0.05)  # b1 runs, c1 waits: the queue is full now
        with pytest.raises(Busy):
            owner.check_capacity(4)
        await ask(1, "a1")
        await asyncio.gather(*tasks)
        return finished

    assert sorted(asyncio.run(run())) == ["a1", "b1", "c1"]


def test_a_hold_stops_background_work_at_once_and_keeps_it_waiting(llama: LlamaModel) -> None:
    # A voice call holds background work while the person speaks (`hold_background`).
    async def run() -> None:
        owner = ModelOwner(llama)
        params = SamplingParams(max_tokens=200, temperature=0.0)

        async def background(tokens: list[str]) -> str:
            prompt = _prompt(owner, "Count from 1 to 500, separated by commas.")
            async for item in owner.stream(prompt, params, background=True):
                if isinstance(item, Finished):
                    return item.usage.finish_reason
                tokens.append(item.text)
            raise AssertionError("no Finished")

        running: list[str] = []
        task = asyncio.create_task(background(running))
        while not running:
            await asyncio.sleep(0.01)
        release = owner.hold_background()
        assert await task == "cancelled" and len(running) < 200

        waiting: list[str] = []
        task = asyncio.create_task(background(waiting))
        await asyncio.sleep(0.5)
        assert not waiting and not task.done()  # held: it has not started
        second = owner.hold_background()
        release()
        release()  # a second call does nothing: the other hold still counts
        await asyncio.sleep(0.3)
        assert not waiting and not task.done()
        second()
        assert await task in ("stop", "length") and waiting

    asyncio.run(run())
