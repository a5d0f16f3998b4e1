"""Background jobs (`hearth.jobs.Jobs`): one at a time in the order given, failures logged
and never raised, model work that gave way to a user tried again, and closing drops the rest.

Each job here is an ordinary coroutine that records what it did; `Preempted` is the
exception the chat model's background work raises when a user's turn comes first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from hearth.engines.llm import Preempted
from hearth.jobs import Jobs


def recorder(log: list[str], name: str) -> Callable[[], Awaitable[None]]:
    """A job that notes its start and end, with a pause between them."""
    async def run() -> None:
        log.append(f"{name} start")
        await asyncio.sleep(0)  # other jobs could run here if the queue let them
        log.append(f"{name} end")

    return run


def test_jobs_run_one_at_a_time_in_the_order_given() -> None:
    log: list[str] = []

    async def main() -> None:
        jobs = Jobs()
        for name in "abc":
            jobs.submit(name, recorder(log, name))
        # The way chat.py submits blocking work: a thread, awaited by the job.
        jobs.submit("thread", lambda: asyncio.to_thread(log.append, "thread"))
        jobs.submit("d", recorder(log, "d"))
        assert log == [], "submitting only queues; the worker runs when the caller awaits"
        await jobs.join()
        assert log == ["a start", "a end", "b start", "b end", "c start", "c end", "thread",
                       "d start", "d end"]
        await jobs.close()

    asyncio.run(main())


def test_join_without_jobs_returns_and_close_is_safe_twice() -> None:
    async def main() -> None:
        jobs = Jobs()
        await jobs.join()
        await jobs.close()
        await jobs.close()

    asyncio.run(main())


def test_a_failing_job_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    async def broken() -> None:
        raise ValueError("the index is unreachable")

    async def main() -> None:
        jobs = Jobs()
        jobs.submit("index", broken)
        jobs.submit("after", recorder(log, "after"))
        await jobs.join()  # does not raise
        await jobs.close()

    with caplog.at_level(logging.ERROR, logger="hearth.jobs"):
        asyncio.run(main())
    assert log == ["after start", "after end"]
    (record,) = [r for r in caplog.records if r.name == "hearth.jobs"]
    assert record.getMessage() == "background job index failed"
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


def test_a_preempted_job_runs_again_after_the_jobs_queued_meanwhile() -> None:
    log: list[str] = []
    tries = 0

    async def summary() -> None:
        nonlocal tries
        tries += 1
        log.append(f"summary try {tries}")
        if tries == 1:
            raise Preempted  # a user's turn took the model

    async def main() -> None:
        jobs = Jobs()
        jobs.submit("summary", summary)
        jobs.submit("facts", recorder(log, "facts"))
        await jobs.join()
        await jobs.close()

    asyncio.run(main())
    assert log == ["summary try 1", "facts start", "facts end", "summary try 2"]


def test_a_job_preempted_every_time_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    tries = 0

    async def always_preempted() -> None:
        nonlocal tries
        tries += 1
        raise Preempted

    async def main() -> None:
        jobs = Jobs()
        jobs.submit("facts", always_preempted)
        jobs.submit("index", recorder(log, "index"))
        await jobs.join()
        await jobs.close()

    with caplog.at_level(logging.WARNING, logger="hearth.jobs"):
        asyncio.run(main())
    assert tries == Jobs.MAX_TRIES
    assert log == ["index start", "index end"]
    assert f"background job facts gave up after {Jobs.MAX_TRIES} tries" in caplog.messages


def test_close_cancels_the_running_job_and_drops_the_queued_ones() -> None:
    log: list[str] = []

    async def main() -> None:
        jobs = Jobs()
        started = asyncio.Event()

        async def long() -> None:
            started.set()
            try:
                await asyncio.Event().wait()  # never set: runs until cancelled
            except asyncio.CancelledError:
                log.append("long cancelled")
                raise

        jobs.submit("long", long)
        jobs.submit("queued", recorder(log, "queued"))
        await started.wait()
        await jobs.close()
        await jobs.join()  # nothing left to wait for
        assert log == ["long cancelled"]

        # The same Jobs starts afresh on the next submit.
        jobs.submit("again", recorder(log, "again"))
        await jobs.join()
        await jobs.close()

    asyncio.run(main())
    assert log == ["long cancelled", "again start", "again end"]


def test_after_close_a_new_event_loop_gets_its_own_worker() -> None:
    """Services outlive one event loop (tests, the CLI): closed on one, used on the next."""
    jobs = Jobs()
    log: list[str] = []

    async def once(name: str) -> None:
        jobs.submit(name, recorder(log, name))
        await jobs.join()
        await jobs.close()

    asyncio.run(once("first"))
    asyncio.run(once("second"))
    assert log == ["first start", "first end", "second start", "second end"]


def test_submit_needs_a_running_event_loop() -> None:
    with pytest.raises(RuntimeError):
        Jobs().submit("index", recorder([], "index"))


def test_a_job_submitted_from_a_thread_runs_on_the_workers_loop() -> None:
    """A sync route runs in a worker thread with no loop of its own (an edit queues fact
    extraction from there): the job is handed to the worker's loop."""
    log: list[str] = []

    async def main() -> None:
        jobs = Jobs()
        jobs.submit("a", recorder(log, "a"))
        # The hand-over is queued on the loop before the thread's return is.
        await asyncio.to_thread(jobs.submit, "b", recorder(log, "b"))
        await jobs.join()
        await jobs.close()

    asyncio.run(main())
    assert log == ["a start", "a end", "b start", "b end"]
    with pytest.raises(RuntimeError, match="no event loop"):
        Jobs().submit("c", recorder(log, "c"))  # no loop anywhere: an error, not a lost job
