"""The database going away and coming back: which errors mean "try again shortly" rather than a fault, and
the connection handling that makes a restart or a killed connection cost as few requests as possible.

A request that meets the database away is answered 503 with ``Retry-After`` (see ``api.errors``): the
client did nothing wrong, and the same request will succeed once the database is back. Connections the
server closed (a restart, ``pg_terminate_backend``, an idle timeout) are dropped when they are taken from
a pool, so the request after such an event gets a fresh connection instead of an error.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolAcquireContext
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

# Connection exceptions (class 08), the server shutting down, crashing or starting up (57P01-57P03).
_AWAY_SQLSTATE_CLASSES = ("08",)
_AWAY_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# Out of connections on the server (53300 too_many_connections) or per role/database limits.
_EXHAUSTED_SQLSTATES = frozenset({"53300"})
_AWAY_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.ENOENT, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPIPE}
)


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why the database cannot serve this request now, and when to try again."""

    reason: str
    """``database-unavailable`` or ``connections-exhausted``."""
    detail: str
    retry_after: int


DATABASE_AWAY = Unavailable(
    "database-unavailable", "database unreachable (restarting or down); try again shortly.", 5
)
EXHAUSTED = Unavailable(
    "connections-exhausted",
    "database connections exhausted (the service is overloaded); try again shortly.",
    2,
)


class PoolExhausted(TimeoutError):
    """No connection of the statement pool became free within the acquire timeout."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: SQLAlchemy's ``orig``, causes and contexts (bounded, no cycles)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 12:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending.extend(
            [current.__context__, current.__cause__, orig if isinstance(orig, BaseException) else None]
        )


def unavailability(exc: BaseException) -> Unavailable | None:
    """``exc`` classified: the database away, its connections exhausted, or (None) something else."""
    for error in _chain(exc):
        if isinstance(error, sa_exc.TimeoutError | PoolExhausted):
            return EXHAUSTED
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str):
            if state in _EXHAUSTED_SQLSTATES:
                return EXHAUSTED
            if state in _AWAY_SQLSTATES or state.startswith(_AWAY_SQLSTATE_CLASSES):
                return DATABASE_AWAY
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return DATABASE_AWAY
        if isinstance(error, asyncpg.InterfaceError) and "closed" in str(error):
            return DATABASE_AWAY  # "connection is closed": the server went away under a request
        # Connecting failed (refused, reset, no socket file: the embedded server is stopped) or timed out.
        if isinstance(error, TimeoutError):
            return DATABASE_AWAY
        if isinstance(error, ConnectionError) or (
            isinstance(error, OSError) and error.errno in _AWAY_ERRNOS and _from_connecting(error)
        ):
            return DATABASE_AWAY
    return None


def _from_connecting(error: OSError) -> bool:
    """Whether an OSError was raised by a database connection attempt (asyncpg or SQLAlchemy's pool),
    rather than, say, a file the code opened."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return any("asyncpg" in name or "sqlalchemy" in name for name in frames)


def discard_closed_connections(engine: AsyncEngine) -> None:
    """Make the engine's pool drop connections the server has closed when they are checked out.

    asyncpg notices a server-side close (the server sends a FATAL message, then closes the socket) while
    the connection sits idle, so asking it costs nothing, unlike a ping per checkout. The pool answers a
    DisconnectionError raised here by connecting afresh.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver is None or driver.is_closed():
            raise sa_exc.DisconnectionError("connection closed by the server")


class _Acquire(PoolAcquireContext):  # type: ignore[misc]  # asyncpg ships no types
    """Acquisition bounded by ``limit`` seconds. asyncpg would bound it with wait_for, a task per
    acquisition even when a connection is free (~6 % of a ticket create's CPU, bench/RESULTS.md), so the
    base class gets no timeout and asyncio.timeout, which only arms a timer, bounds the wait instead."""

    __slots__ = ("limit",)

    def __init__(self, pool: Any, limit: float) -> None:
        super().__init__(pool, None)
        self.limit = limit

    async def __aenter__(self) -> Any:
        idle = getattr(self.pool, "_queue", None)
        if idle is not None and not idle.empty():
            return await super().__aenter__()  # a connection is free: nothing to wait for, nothing to bound
        try:
            async with asyncio.timeout(self.limit):
                return await super().__aenter__()
        except TimeoutError:
            raise PoolExhausted(f"no connection became free within {self.limit} s") from None


class StatementPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no types
    """An asyncpg pool whose acquisitions wait at most ``acquire_timeout`` (asyncpg waits for ever by
    default, so a request would hang instead of answering 503 when every connection is busy). asyncpg
    itself replaces connections the server closed when they are acquired."""

    acquire_timeout: float = 5.0

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return _Acquire(self, self.acquire_timeout if timeout is None else timeout)


async def create_statement_pool(dsn: str, *, acquire_timeout: float, **kwargs: Any) -> StatementPool:
    """``asyncpg.create_pool`` with :class:`StatementPool` as the class (it takes no pool class)."""
    pool = StatementPool(
        dsn,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        loop=None,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        **kwargs,
    )
    pool.acquire_timeout = acquire_timeout
    await pool
    return pool
