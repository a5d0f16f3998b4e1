"""Background work after a reply (indexing, summaries, facts), one job at a time.

Jobs never sit on the path to the first token: they start after the reply is
stored, and model work inside them gives way to any user turn (`Preempted`),
to be tried again once the user's turn is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hearth.engines.llm import Preempted

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


@dataclass
class _Queued:
    name: str
    run: Job
    tries: int = 0


class Jobs:
    MAX_TRIES = 8

    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Queued] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the worker's

    def submit(self, name: str, run: Job) -> None:
        """Queue a job; the worker starts with the first job, on the running loop. From a
        thread with no loop (a sync route runs in one) the job goes to the worker's loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None:
                raise RuntimeError(f"job {name}: no event loop runs the background jobs") from None
            self._loop.call_soon_threadsafe(self.submit, name, run)
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._work())
            self._loop = loop
        self._queue.put_nowait(_Queued(name, run))

    @property
    def running(self) -> bool:
        """Whether a job submitted now would run (a loop runs the worker, or this is one)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop is not None
        return True

    async def join(self) -> None:
        """Wait until every queued job is done (tests, benchmarks, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Stop the worker; queued jobs are dropped (the index catches up at next start)."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._queue, self._worker, self._loop = None, None, None

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            started = time.perf_counter()
            try:
                await job.run()
                log.debug("job %s took %.2fs", job.name, time.perf_counter() - started)
            except Preempted:
                job.tries += 1
                if job.tries < self.MAX_TRIES:
                    self._queue.put_nowait(job)  # after the user's turn
                else:
                    log.warning("background job %s gave up after %d tries", job.name, job.tries)
            except Exception:
                log.exception("background job %s failed", job.name)
            finally:
                self._queue.task_done()
