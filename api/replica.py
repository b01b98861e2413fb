"""Reads from a streaming replica (``HELPDESK_READ_DATABASE_URL``) without breaking read-your-writes.

Lists, the change feed and ticket histories may read from a replica. A client that must see its own
writes sends back the consistency token its write returned (:mod:`api.consistency`: the primary's WAL
position after the commit); such a read goes to the replica only once the replica has replayed that far,
and otherwise to the primary. A read without a token goes to the replica while it is at most
``HELPDESK_READ_MAX_LAG_SECONDS`` behind. A replica that is unreachable, lagging or failing never turns
a read into an error: the read goes to the primary, and a probe brings the replica back when it recovers.

The decision costs no round trip at steady state: a probe (one small query to each server per second)
keeps the replica's replay position and its lag in memory; only a token beyond the last probe asks the
replica once more before falling back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.availability import unavailability
from api.settings import Settings

log = logging.getLogger(__name__)

PROBE_SECONDS = 1.0
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")

T = TypeVar("T")


def parse_lsn(text: str | None) -> int | None:
    """``16/B374D848`` → an integer that orders like the WAL position; None when it is not one."""
    match = _LSN.match(text.strip()) if text else None
    if match is None:
        return None
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


class ReadRouter:
    """Which server serves a read: the replica when it is healthy and has replayed what the client
    wrote, else the primary. Without a replica configured every read goes to the primary."""

    def __init__(
        self,
        primary_pool: asyncpg.Pool,
        primary_engine: AsyncEngine,
        settings: Settings,
        replica_pool: asyncpg.Pool | None = None,
        replica_engine: AsyncEngine | None = None,
    ) -> None:
        self.primary_pool = primary_pool
        self.primary_engine = primary_engine
        self.replica_pool = replica_pool
        self.replica_engine = replica_engine
        self._max_lag = settings.read_max_lag_seconds
        self._replayed: int | None = None  # the replica's replay position at the last probe
        self._fresh = False  # healthy and within the lag bound at the last probe
        # The primary's WAL position per probe: the replica is within the lag bound while it has
        # replayed what the primary had written max_lag seconds ago (an idle primary counts as no lag).
        self._primary_marks: deque[tuple[float, int]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.replica_reads = 0
        self.primary_reads = 0

    @property
    def enabled(self) -> bool:
        return self.replica_pool is not None

    async def start(self) -> None:
        if self.enabled:
            await self.probe()
            self._task = asyncio.create_task(self._probe_forever(), name="read-replica-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            await self.probe()

    async def probe(self) -> None:
        """Measure the replica: its replay position, and whether it is within the lag bound."""
        assert self.replica_pool is not None
        now = time.monotonic()
        try:
            primary = parse_lsn(await self.primary_pool.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        except Exception as exc:  # the primary away: requests find out for themselves
            log.debug("read replica probe: primary unavailable: %s", exc)
            primary = None
        if primary is not None:
            self._primary_marks.append((now, primary))
        while len(self._primary_marks) > 1 and self._primary_marks[1][0] <= now - self._max_lag:
            self._primary_marks.popleft()  # keep the newest mark that is at least max_lag old
        replayed = await self._replay_position()
        if replayed is None:
            self._fresh = False
            return
        self._replayed = replayed
        oldest = self._primary_marks[0] if self._primary_marks else None
        # Behind by more than max_lag: it has not replayed what the primary wrote max_lag seconds ago.
        self._fresh = oldest is None or oldest[0] > now - self._max_lag or replayed >= oldest[1]

    async def _replay_position(self) -> int | None:
        assert self.replica_pool is not None
        try:
            async with asyncio.timeout(2.0):
                text = await self.replica_pool.fetchval("SELECT pg_last_wal_replay_lsn()::text")
        except Exception as exc:
            if self._fresh:
                log.warning("read replica unavailable, reading from the primary: %s", exc)
            self._fresh = False
            return None
        return parse_lsn(text)  # None when the server is not a standby (promoted, or misconfigured)

    async def use_replica(self, token: int | None) -> bool:
        """Whether a read that must see the write behind ``token`` (None: no write to see) may go to the
        replica now."""
        if not self.enabled or not self._fresh:
            return False
        if token is None or (self._replayed is not None and self._replayed >= token):
            return True
        # The token is newer than the last probe: ask once more (replication takes milliseconds), and
        # read from the primary rather than make the client wait if the replica is not there yet.
        replayed = await self._replay_position()
        if replayed is not None and (self._replayed is None or replayed > self._replayed):
            self._replayed = replayed
        return replayed is not None and replayed >= token

    def _replica_failed(self, exc: BaseException) -> None:
        log.warning("read replica failed a read, reading from the primary: %s", exc)
        self._fresh = False

    async def run(self, token: int | None, read: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        """Run ``read`` on the replica's statement pool when allowed, else (or when it fails because the
        replica is away) on the primary's."""
        if await self.use_replica(token):
            assert self.replica_pool is not None
            try:
                result = await read(self.replica_pool)
            except Exception as exc:
                if unavailability(exc) is None:
                    raise  # the read itself is wrong: the primary would refuse it too
                self._replica_failed(exc)
            else:
                self.replica_reads += 1
                return result
        self.primary_reads += 1
        return await read(self.primary_pool)

    @asynccontextmanager
    async def connection(self, token: int | None) -> AsyncIterator[AsyncConnection]:
        """An autocommit connection for a read: the replica's when allowed and reachable, else the
        primary's. A replica failing after the connection was made answers 503 like the primary would."""
        if await self.use_replica(token):
            assert self.replica_engine is not None
            try:
                conn = await self.replica_engine.connect()
            except Exception as exc:
                if unavailability(exc) is None:
                    raise
                self._replica_failed(exc)
            else:
                self.replica_reads += 1
                async with conn:
                    try:
                        yield await conn.execution_options(isolation_level="AUTOCOMMIT")
                    except Exception as exc:
                        if unavailability(exc) is not None:
                            self._replica_failed(exc)  # this read is a 503; the next ones go to the primary
                        raise
                return
        self.primary_reads += 1
        async with self.primary_engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def read_router(state: Any) -> ReadRouter:
    router: ReadRouter = state.read_router
    return router
