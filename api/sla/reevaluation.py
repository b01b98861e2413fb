"""Re-evaluating open tickets after a policy (or calendar) change, in background batches.

A policy change inserts an ``sla_reevaluations`` row in its own transaction and NOTIFYs the runners.
:class:`ReevaluationJob` works through the tickets that are not closed in id order, a batch per
transaction (so API requests never wait behind it for more than one batch's locks), with the policies
read fresh from the database: each ticket goes through the seam's hooks like any other change (cause
``reevaluated``), so its state, timers and history (``sla.updated``, and ``sla.breached`` when a shorter
target is already overdue) come out exactly as if the ticket had changed; the batch's changes are
written together (``service.apply_hooks``: one statement for the tickets and their timers, one for the
events). The newest pass covers every
older one, which is then marked finished.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.context import Actor, Context
from api.db import raw_transaction
from api.settings import Settings
from api.sla.cache import load_all, with_earlier_calendars
from api.tickets import service, store

CHANNEL = "helpdesk_sla_reevaluate"
BATCH = 500
ACTOR = Context(actor=Actor("system", None, "sla-reevaluation"), request_id=None, agent_id=None)

_CLAIM = """
SELECT id, after_ticket_id FROM sla_reevaluations WHERE finished_at IS NULL
ORDER BY id DESC LIMIT 1 FOR UPDATE SKIP LOCKED
"""


async def request(raw: asyncpg.Connection, reason: str) -> None:
    """Ask for a pass over the open tickets (in the caller's transaction: only if the change commits)."""
    await raw.execute("INSERT INTO sla_reevaluations (reason) VALUES ($1)", reason)
    await raw.execute("SELECT pg_notify($1, '')", CHANNEL)


async def request_for_calendar(conn: AsyncConnection, calendar_id: uuid.UUID, version: int | None) -> None:
    """A business calendar changed: re-evaluate when an active policy counts business time with it."""
    raw = await raw_transaction(conn)
    in_use = await raw.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sla_policies WHERE calendar_id = $1 AND active)", calendar_id
    )
    if in_use:
        await request(raw, f"business calendar {calendar_id} version {version}")


class ReevaluationJob:
    name = "sla-reevaluation"
    channels: Sequence[str] = (CHANNEL,)
    poll_interval = 30.0

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    async def run_once(self) -> bool:
        async with self._engine.begin() as conn:
            raw = await raw_transaction(conn)
            claimed = await raw.fetchrow(_CLAIM)
            if claimed is None:
                return False
            await raw.execute(
                "UPDATE sla_reevaluations SET finished_at = now() WHERE finished_at IS NULL AND id < $1",
                claimed["id"],
            )
            last, changed, done = await self._batch(conn, raw, claimed["after_ticket_id"])
            await raw.execute(
                "UPDATE sla_reevaluations SET after_ticket_id = $2, tickets_changed = tickets_changed + $3, "
                "finished_at = CASE WHEN $4 THEN now() END WHERE id = $1",
                claimed["id"],
                last,
                changed,
                done,
            )
        return True

    async def _batch(
        self, conn: AsyncConnection, raw: asyncpg.Connection, after: int
    ) -> tuple[int, int, bool]:
        rows = await raw.fetch(
            f"{store.SELECT} WHERE t.id > $1 AND t.status <> 'closed' ORDER BY t.id LIMIT $2 FOR UPDATE OF t",
            after,
            BATCH,
        )
        config = service.config_from(
            self._settings, await with_earlier_calendars(await load_all(raw), raw, rows)
        )
        changed = await service.apply_hooks(conn, raw, ACTOR, config, rows, cause="reevaluated")
        last = rows[-1]["id"] if rows else after
        return last, changed, len(rows) < BATCH

    async def close(self) -> None:
        return None
