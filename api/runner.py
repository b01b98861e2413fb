"""The background runner: claims due work from PostgreSQL, woken by LISTEN/NOTIFY, with a fallback poll.

A *job* is one kind of work (webhook delivery, scheduled ticket actions…). The runner gives each job a
loop: run a batch; if the batch found work, run again at once; otherwise sleep until a NOTIFY on one of
the job's channels or the poll interval, whichever comes first. Jobs claim rows with
``FOR UPDATE SKIP LOCKED``, so any number of runners (inside ``helpdesk serve`` processes and standalone
``helpdesk worker`` processes) can share one database safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from api.listener import Listener

log = logging.getLogger("api.runner")

ERROR_BACKOFF_SECONDS = 1.0


class Job(Protocol):
    name: str
    channels: Sequence[str]
    """NOTIFY channels that mean "there may be work for you now"."""
    poll_interval: float
    """Seconds between polls when no notification arrives (missed NOTIFYs, timed work falling due)."""

    async def run_once(self) -> bool:
        """Process one batch of due work; return True when there may be more right away."""
        ...

    async def close(self) -> None:
        """Release resources (HTTP clients…) when the runner stops."""
        ...


class Runner:
    def __init__(self, listener: Listener, jobs: Sequence[Job]) -> None:
        """Subscribes the jobs' channels to ``listener``: create the runner before the listener starts.
        While the listener is down the jobs poll; when it (re)connects every job runs a batch, since
        notifications may have been missed in between."""
        self._jobs = list(jobs)
        self._events = {job.name: asyncio.Event() for job in self._jobs}
        for job in self._jobs:
            event = self._events[job.name]
            for channel in job.channels:
                listener.subscribe(channel, on_notify=_setter(event), on_reset=event.set)
            # Optional: jobs that keep work in flight (webhook delivery) wake themselves when capacity frees.
            bind_wake = getattr(job, "bind_wake", None)
            if bind_wake is not None:
                bind_wake(self._events[job.name].set)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for job in self._jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"runner-{job.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for job in self._jobs:
            await job.close()

    def wake_all(self) -> None:
        for event in self._events.values():
            event.set()

    async def _loop(self, job: Job) -> None:
        wake = self._events[job.name]
        while True:
            wake.clear()  # before the batch: a NOTIFY arriving during it must trigger another one
            try:
                more = await job.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job failed", extra={"job": job.name})
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                continue
            if more:
                await asyncio.sleep(0)  # let other jobs and requests in between batches
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives
            # as the event is set, and stop() would then wait forever for this loop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(job.poll_interval):
                    await wake.wait()


def _setter(event: asyncio.Event) -> Callable[[str], None]:
    def wake(_payload: str) -> None:
        event.set()

    return wake
