"""Retention: delivery history older than the retention period is deleted, in small batches.

Pending deliveries are never deleted, however old (an endpoint may be disabled for a while and
resume). Attempts go first, then finished deliveries, then messages no delivery refers to any more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.settings import Settings

BATCH = 5000

_STATEMENTS = (
    text(
        "DELETE FROM webhook_attempts WHERE id IN "
        "(SELECT id FROM webhook_attempts WHERE started_at < :cutoff LIMIT :batch)"
    ),
    text(
        "DELETE FROM webhook_deliveries WHERE id IN "
        "(SELECT id FROM webhook_deliveries WHERE created_at < :cutoff AND status <> 'pending' LIMIT :batch)"
    ),
    text(
        "DELETE FROM webhook_messages WHERE id IN "
        "(SELECT m.id FROM webhook_messages m WHERE m.created_at < :cutoff AND NOT EXISTS "
        "(SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id) LIMIT :batch)"
    ),
)


class RetentionJob:
    name = "webhook-retention"
    channels: Sequence[str] = ()

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._keep = dt.timedelta(days=settings.webhook_retention_days)
        self.poll_interval = 600.0

    async def run_once(self) -> bool:
        """Delete one batch of each kind; True while there is more to delete."""
        cutoff = dt.datetime.now(dt.UTC) - self._keep
        more = False
        for statement in _STATEMENTS:
            async with self._engine.begin() as conn:
                result = await conn.execute(statement, {"cutoff": cutoff, "batch": BATCH})
            more = more or (result.rowcount or 0) >= BATCH
        return more

    async def close(self) -> None:
        return None
