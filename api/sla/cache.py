"""Per-process cache of the SLA configuration (active policies), dropped on NOTIFY.

Every ticket write needs the active policies; reading them is one query, so each process keeps them and
one ``LISTEN`` connection drops the copy the moment a transaction that changed a policy commits (the
change sends ``NOTIFY helpdesk_sla_changed``). While that connection is down, every write reads the
policies afresh, so a missed notification can never keep a stale policy in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import msgspec

from api.sla.hook import SlaConfig
from api.sla.policies import Policy
from api.sla.schemas import Conditions, SlaPolicyRead, Targets

log = logging.getLogger("api.sla")

CHANNEL = "helpdesk_sla_changed"
RECONNECT_DELAY_SECONDS = 1.0

_ACTIVE = """
SELECT id, version, calendar_id, conditions::text AS conditions, targets::text AS targets
FROM sla_policies WHERE active ORDER BY position, created_at, id
"""


async def load(raw: asyncpg.Connection | asyncpg.Pool) -> SlaConfig:
    rows = await raw.fetch(_ACTIVE)
    policies = tuple(
        Policy(
            id=row["id"],
            version=row["version"],
            calendar_id=row["calendar_id"],
            conditions=msgspec.json.decode(row["conditions"], type=Conditions),
            targets={str(k): v for k, v in msgspec.json.decode(row["targets"], type=Targets).items()},
        )
        for row in rows
    )
    return SlaConfig(policies=policies)


def policy_from(read: SlaPolicyRead) -> Policy:
    return Policy.from_read(read)


class SlaConfigCache:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._value: SlaConfig | None = None
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def get(self, raw: asyncpg.Connection | asyncpg.Pool) -> SlaConfig:
        if self._task is None:
            self._task = asyncio.create_task(self._keep_listening(), name="sla-config-listener")
        value = self._value
        if value is not None:
            return value
        value = await load(raw)
        if self._listener is not None and not self._listener.is_closed():
            self._value = value
        return value

    def drop(self) -> None:
        self._value = None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()

    def _on_notification(self, *_: Any) -> None:
        self._value = None

    def _on_lost(self, _conn: Any) -> None:
        self._value = None

    async def _keep_listening(self) -> None:
        while True:
            if self._listener is None or self._listener.is_closed():
                self._value = None
                try:
                    conn = await asyncpg.connect(
                        self._dsn, server_settings={"application_name": "helpdesk-listen"}
                    )
                    await conn.add_listener(CHANNEL, self._on_notification)
                    conn.add_termination_listener(self._on_lost)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("SLA configuration listener unavailable, reading policies per write: %s", exc)
                else:
                    self._listener = conn
                    self._value = None
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)
