"""Scheduled ticket actions: rows with a due time, written in the transaction that decides them.

Resolving a ticket schedules its auto-close; reopening cancels it. The runner job below claims due rows
with ``FOR UPDATE SKIP LOCKED``, so any number of ``helpdesk serve`` / ``helpdesk worker`` processes
share the work, and a crash before COMMIT just leaves the row due for the next runner. SLA checks and
follow-ups can add kinds to :data:`HANDLERS`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.db import raw_transaction
from api.idempotency import purge_expired
from api.settings import Settings

log = logging.getLogger("api.tickets.scheduling")

CHANNEL = "helpdesk_scheduled_actions"
AUTO_CLOSE = "auto_close"
BATCH = 50

Handler = Callable[[AsyncConnection, int], Awaitable[None]]


async def schedule(
    raw: asyncpg.Connection, kind: str, ticket_id: int, delay: dt.timedelta, poll: float
) -> None:
    """Schedule ``kind`` after ``delay``; wake the runners now if it falls due before their next poll."""
    await raw.execute(
        "INSERT INTO scheduled_actions (kind, ticket_id, due_at) VALUES ($1, $2, now() + $3::interval)",
        kind,
        ticket_id,
        delay,
    )
    if delay.total_seconds() < poll:
        await raw.execute("SELECT pg_notify($1, '')", CHANNEL)


async def cancel(raw: asyncpg.Connection, kind: str, ticket_id: int) -> None:
    await raw.execute(
        "UPDATE scheduled_actions SET cancelled_at = now() "
        "WHERE ticket_id = $1 AND kind = $2 AND done_at IS NULL AND cancelled_at IS NULL",
        ticket_id,
        kind,
    )


_CLAIM = """
SELECT id, kind, ticket_id FROM scheduled_actions
WHERE done_at IS NULL AND cancelled_at IS NULL AND due_at <= now()
ORDER BY due_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""


class ScheduledActionsJob:
    """Runs due scheduled actions, each in its own transaction with the claim of its row."""

    name = "scheduled-actions"
    channels: Sequence[str] = (CHANNEL,)

    def __init__(self, engine: AsyncEngine, settings: Settings, handlers: dict[str, Handler]) -> None:
        self._engine = engine
        self._handlers = handlers
        self.poll_interval = settings.scheduler_poll_seconds

    async def run_once(self) -> bool:
        async with self._engine.begin() as conn:
            raw = await raw_transaction(conn)
            rows = await raw.fetch(_CLAIM, BATCH)
            for row in rows:
                await self._run(conn, raw, row)
            await purge_expired(conn)
        return len(rows) == BATCH

    async def _run(self, conn: AsyncConnection, raw: asyncpg.Connection, row: asyncpg.Record) -> None:
        handler = self._handlers.get(row["kind"])
        if handler is None:
            log.error(
                "no handler for scheduled action kind", extra={"kind": row["kind"], "action_id": row["id"]}
            )
            await raw.execute(
                "UPDATE scheduled_actions SET attempts = attempts + 1, last_error = 'unknown kind', "
                "due_at = now() + interval '1 hour' WHERE id = $1",
                row["id"],
            )
            return
        try:
            async with raw.transaction():  # a savepoint: one failing action must not undo the batch
                await handler(conn, row["ticket_id"])
        except Exception as exc:
            log.exception("scheduled action failed", extra={"kind": row["kind"], "action_id": row["id"]})
            await raw.execute(
                "UPDATE scheduled_actions SET attempts = attempts + 1, last_error = $2, "
                "due_at = now() + least(interval '1 hour', interval '10 seconds' * power(2, attempts)) "
                "WHERE id = $1",
                row["id"],
                repr(exc)[:2000],
            )
            return
        await raw.execute(
            "UPDATE scheduled_actions SET done_at = now(), attempts = attempts + 1 WHERE id = $1", row["id"]
        )

    async def close(self) -> None:
        return None
