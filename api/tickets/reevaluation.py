"""Re-evaluating open tickets after a change of what hooks depend on, in background batches.

Any feature asks for a pass with :func:`request`, in the transaction of the change that calls for it (an
SLA policy or calendar edit; a setting such as the auto-close delay, checked when a runner starts). A
pass is an ``sla_reevaluations`` row (the name is historical: every feature's hooks run). The
:class:`ReevaluationJob` works through the tickets that are not closed in id order, a batch per
transaction (so API requests never wait behind it for more than one batch's locks), with the
configuration read fresh from the database: each ticket goes through every registered hook like any other
change (cause ``reevaluated``), so its state, timers and history (``sla.updated``, and ``sla.breached``
when a shorter target is already overdue) come out exactly as if the ticket had changed. The batch is
written together (``writer.apply_hooks``: one statement for the changed tickets and every ticket's
timers, one for the events), and only tickets whose state changed are written or notified.

The newest pass covers every older one, which is then marked finished. So that frequent edits cannot
starve the tickets an older pass has not reached — each new pass restarting at the first ticket would
keep the last ones on an old configuration as long as the edits go on — a newer pass starts where the
pass it supersedes had got to, and wraps around to end there: the passes' cursor only moves forward, and
every ticket is reached within one round whatever the rate of edits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from api.context import Actor, Context
from api.db import raw_transaction
from api.tickets import seam, store, writer

CHANNEL = "helpdesk_sla_reevaluate"
BATCH = 500
ACTOR = Context(actor=Actor("system", None, "sla-reevaluation"), request_id=None, agent_id=None)

Fresh = Callable[[asyncpg.Connection, Sequence[asyncpg.Record]], Awaitable[seam.Config]]
"""The hooks' configuration read afresh, for a batch of tickets (``features.HookConfig.fresh``)."""

_CLAIM = """
SELECT id, after_ticket_id, started_after_ticket_id, wrapped FROM sla_reevaluations
WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1 FOR UPDATE SKIP LOCKED
"""
# The passes a newer one covers, and how far the furthest along of them had got.
_SUPERSEDE = """
WITH done AS (
    UPDATE sla_reevaluations SET finished_at = now() WHERE finished_at IS NULL AND id < $1
    RETURNING id, after_ticket_id, wrapped
)
SELECT after_ticket_id FROM done WHERE after_ticket_id > 0 OR wrapped ORDER BY id DESC LIMIT 1
"""
_TAKE_OVER = """
UPDATE sla_reevaluations SET after_ticket_id = $2, started_after_ticket_id = $2 WHERE id = $1
"""
_BATCH = f"""
{store.SELECT} WHERE t.id > $1 AND t.status <> 'closed' AND (NOT $2 OR t.id <= $3)
ORDER BY t.id LIMIT $4 FOR UPDATE OF t
"""
_PROGRESS = """
UPDATE sla_reevaluations SET after_ticket_id = $2, wrapped = $3, tickets_changed = tickets_changed + $4,
    finished_at = CASE WHEN $5 THEN now() END
WHERE id = $1
"""
# A setting hooks depend on, as last applied: returns a row when it changed (not when first recorded).
_APPLY_SETTING = """
WITH previous AS (SELECT value FROM seam_settings WHERE name = $1)
INSERT INTO seam_settings (name, value) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, changed_at = now()
WHERE seam_settings.value <> excluded.value
RETURNING (SELECT value FROM previous) AS previous
"""


async def request(raw: asyncpg.Connection, reason: str) -> None:
    """Ask for a pass over the open tickets (in the caller's transaction: only if the change commits)."""
    await raw.execute("INSERT INTO sla_reevaluations (reason) VALUES ($1)", reason)
    await raw.execute("SELECT pg_notify($1, '')", CHANNEL)


class ReevaluationJob:
    name = "sla-reevaluation"  # historical, like its table
    channels: Sequence[str] = (CHANNEL,)
    poll_interval = 30.0

    def __init__(self, engine: AsyncEngine, fresh: Fresh, settings: Mapping[str, str]) -> None:
        self._engine = engine
        self._fresh = fresh
        self._settings = settings
        self._settings_checked = False

    async def run_once(self) -> bool:
        async with self._engine.begin() as conn:
            raw = await raw_transaction(conn)
            if not self._settings_checked:
                await self._check_settings(raw)
            claimed = await raw.fetchrow(_CLAIM)
            if claimed is None:
                return False
            after, started_after, wrapped = (
                claimed["after_ticket_id"],
                claimed["started_after_ticket_id"],
                claimed["wrapped"],
            )
            reached = await raw.fetchval(_SUPERSEDE, claimed["id"])
            if reached is not None and after == 0 and not wrapped:
                after = started_after = reached
                await raw.execute(_TAKE_OVER, claimed["id"], reached)
            rows = await raw.fetch(_BATCH, after, wrapped, started_after, BATCH)
            changed = await writer.apply_hooks(
                raw, ACTOR, await self._fresh(raw, rows), rows, cause="reevaluated"
            )
            end_reached = len(rows) < BATCH
            if end_reached and not wrapped and started_after > 0:
                last, wrapped, done = 0, True, False  # on from the first ticket, up to where it started
            else:
                last, done = (rows[-1]["id"] if rows else after), end_reached
            await raw.execute(_PROGRESS, claimed["id"], last, wrapped, changed, done)
        return True

    async def _check_settings(self, raw: asyncpg.Connection) -> None:
        changed = []
        for name, value in self._settings.items():
            row = await raw.fetchrow(_APPLY_SETTING, name, value)
            if row is not None and row["previous"] is not None:
                changed.append(f"{name} {row['previous']} -> {value}")
        if changed:
            await request(raw, "settings changed: " + ", ".join(changed))
        self._settings_checked = True

    async def close(self) -> None:
        return None
