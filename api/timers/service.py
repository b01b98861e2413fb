"""Timers: declared by hooks, written by the seam in the change's transaction, fired by the runner.

A hook owns timer kinds. For a ticket after a change it declares the timers of its kinds that should
exist, ``{(kind, key): due_at}``; :func:`sync_ctes` makes the ticket's live timers of those kinds exactly
that set, in the statement that writes the change (moved ones updated, new ones inserted, the rest
deleted). So no write path can forget to cancel a timer: it would have to forget to run the hooks.

:class:`TimerJob` claims due timers with ``FOR UPDATE SKIP LOCKED`` (any number of runners share the
work) and fires each in a savepoint of its batch transaction: the handler re-runs the ticket's hooks at
the due instant (``api/tickets/writer.py``), and those usually move the timer (the next SLA moment) or
delete it (the ticket closed). A timer its hook still declares at the same instant afterwards stays as a
*trace* (``fired_at`` set): re-declaring it — on a later change, after a restart, in a re-evaluation —
does not fire it again, like River's unique jobs kept after completion; declaring another instant
re-arms it, declaring nothing deletes it. So a timer fires once per episode without the hook keeping
that memory itself. Handlers decide from the ticket as it is now, so a timer made stale by a later change
does nothing. Runners sleep until the earliest due timer on the database's clock; a change that declares
a timer due sooner than the longest sleep sends a NOTIFY so sleeping runners look again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.db import raw_transaction
from api.idempotency import purge_expired

log = logging.getLogger("api.timers")

CHANNEL = "helpdesk_timers"
MAX_SLEEP_SECONDS = 30.0
"""The longest a runner sleeps without looking; timers due later than this need no NOTIFY."""
IDLE_RECHECK_SECONDS = 0.02
"""Sleep when due timers exist but other runners (or changes, their tickets) hold them."""
BATCH = 50
COMMIT_WITHIN_SECONDS = 0.1
"""A batch commits once its timers have taken this long: what a timer changes becomes visible (and its
webhooks deliverable) at commit, so a long batch would make its first timers late. Claimed timers not
yet fired are released by that commit and claimed again at once."""

TimerKey = tuple[str, str]
"""(kind, key): a ticket has at most one live timer per pair."""


@dataclass(frozen=True, slots=True)
class FiredTimer:
    id: int
    ticket_id: int | None
    kind: str
    key: str
    due_at: dt.datetime


Handler = Callable[[AsyncConnection, FiredTimer], Awaitable[None]]


def declared_args(
    declared: Mapping[TimerKey, dt.datetime],
) -> tuple[list[str], list[str], list[dt.datetime]]:
    """One ticket's declared timers as three arrays (kinds, keys, due instants), in a stable order."""
    keys = sorted(declared)
    return [k for k, _ in keys], [k for _, k in keys], [declared[k] for k in keys]


def sync_args(
    owned: frozenset[str], declared: Mapping[int, Mapping[TimerKey, dt.datetime]]
) -> tuple[list[str], list[int], list[int], list[str], list[str], list[dt.datetime]]:
    """Parameters of :func:`sync_ctes` for the tickets in ``declared`` (ticket id → its declared timers):
    the owned kinds, the tickets, then every declared timer as four arrays (ticket, kind, key, due)."""
    ticket_ids: list[int] = []
    kinds: list[str] = []
    keys: list[str] = []
    dues: list[dt.datetime] = []
    for ticket_id, timers in declared.items():
        k, n, d = declared_args(timers)
        ticket_ids += [ticket_id] * len(k)
        kinds += k
        keys += n
        dues += d
    return sorted(owned), list(declared), ticket_ids, kinds, keys, dues


def sync_ctes(owned: str, tickets: str, ticket_ids: str, kinds: str, keys: str, dues: str) -> str:
    """CTEs (to put inside a write statement) that make the timers of ``tickets`` whose kind is in
    ``owned`` exactly the declared ones; the arguments are SQL placeholders of :func:`sync_args`. A
    declared timer that already fired at the same instant stays fired (its trace); one declared at
    another instant is re-armed."""
    return f"""timers_dropped AS (
    DELETE FROM timers WHERE ticket_id = ANY({tickets}::bigint[]) AND kind = ANY({owned}::text[])
    AND (ticket_id, kind, key) NOT IN (
        SELECT * FROM unnest({ticket_ids}::bigint[], {kinds}::text[], {keys}::text[])
    )
), timers_set AS (
    INSERT INTO timers (ticket_id, kind, key, due_at)
    SELECT * FROM unnest({ticket_ids}::bigint[], {kinds}::text[], {keys}::text[], {dues}::timestamptz[])
    ON CONFLICT (ticket_id, kind, key) DO UPDATE
    SET due_at = excluded.due_at, fired_at = NULL, attempts = 0, last_error = NULL
    WHERE timers.due_at <> excluded.due_at
)"""


def wakes_runners(declared: Mapping[TimerKey, dt.datetime], now: dt.datetime) -> bool:
    """Whether a runner asleep for its longest sleep could miss one of these timers."""
    horizon = now + dt.timedelta(seconds=MAX_SLEEP_SECONDS)
    return any(due < horizon for due in declared.values())


async def wake_runners(raw: asyncpg.Connection) -> None:
    """NOTIFY the runners (delivered when, and if, the transaction commits)."""
    await raw.execute("SELECT pg_notify($1, '')", CHANNEL)


# Due timers, and the lock of each one's ticket. A change locks its ticket and then writes the ticket's
# timers; a runner that locked a timer and then waited for its ticket would deadlock with it. So the
# runner never waits: timers and tickets are both taken SKIP LOCKED, and a timer whose ticket is busy
# is left for the next look (``ticket_free`` false; released when the batch commits).
_CLAIM = """
WITH due AS (
    SELECT id, ticket_id, kind, key, due_at FROM timers
    WHERE due_at <= clock_timestamp() AND fired_at IS NULL
    ORDER BY due_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), free AS (
    SELECT id FROM tickets WHERE id IN (SELECT ticket_id FROM due) FOR UPDATE SKIP LOCKED
)
SELECT due.*, due.ticket_id IS NULL OR due.ticket_id IN (SELECT id FROM free) AS ticket_free
FROM due ORDER BY due_at
"""
# A fired timer its handler left in place (same instant) becomes its trace; one it moved is live again.
_DONE = "UPDATE timers SET fired_at = clock_timestamp() WHERE id = $1 AND due_at = $2"
_DONE_UNOWNED = "DELETE FROM timers WHERE id = $1 AND due_at = $2"  # no ticket, no hook to re-declare it
_FAILED = """
UPDATE timers SET attempts = attempts + 1, last_error = $2,
    due_at = clock_timestamp() + least(interval '1 hour', interval '10 seconds' * power(2, attempts))
WHERE id = $1
"""
_NEXT_DUE = (
    "SELECT extract(epoch FROM min(due_at) - clock_timestamp())::float8 FROM timers WHERE fired_at IS NULL"
)


class TimerJob:
    """Fires due timers, each in a savepoint of its batch's transaction, and sleeps until the next one."""

    name = "timers"
    channels: Sequence[str] = (CHANNEL,)

    def __init__(self, engine: AsyncEngine, handlers: Mapping[str, Handler]) -> None:
        self._engine = engine
        self._handlers = handlers
        self.poll_interval = MAX_SLEEP_SECONDS

    async def run_once(self) -> bool:
        async with self._engine.begin() as conn:
            raw = await raw_transaction(conn)
            rows = await raw.fetch(_CLAIM, BATCH)
            free = [row for row in rows if row["ticket_free"]]
            started = time.monotonic()
            fired = 0
            for row in free:
                await self._fire(conn, raw, FiredTimer(*row[:5]))
                fired += 1
                if time.monotonic() - started >= COMMIT_WITHIN_SECONDS:
                    break
            await purge_expired(conn)
            more = len(rows) == BATCH or fired < len(free)
            if not more:
                busy = len(free) < len(rows)
                self.poll_interval = self._sleep_for(0.0 if busy else await raw.fetchval(_NEXT_DUE))
        return more

    @staticmethod
    def _sleep_for(seconds_until_due: float | None) -> float:
        if seconds_until_due is None:
            return MAX_SLEEP_SECONDS
        if seconds_until_due <= 0:  # due, but held by another runner or a change right now
            return IDLE_RECHECK_SECONDS
        return min(MAX_SLEEP_SECONDS, seconds_until_due + 0.001)

    async def _fire(self, conn: AsyncConnection, raw: asyncpg.Connection, timer: FiredTimer) -> None:
        handler = self._handlers.get(timer.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for timer kind {timer.kind!r}")
            async with raw.transaction():  # a savepoint: one failing timer must not undo the batch
                await handler(conn, timer)
        except Exception as exc:
            log.exception("timer failed", extra={"kind": timer.kind, "timer_id": timer.id})
            await raw.execute(_FAILED, timer.id, repr(exc)[:2000])
            return
        await raw.execute(_DONE if timer.ticket_id is not None else _DONE_UNOWNED, timer.id, timer.due_at)

    async def close(self) -> None:
        return None
