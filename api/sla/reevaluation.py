"""When SLA changes call for a re-evaluation of the open tickets (``api/tickets/reevaluation.py``).

A policy change asks for a pass in its own transaction; a business calendar change does when an active
policy counts business time with it. The pass runs every hook over the tickets, the SLA hook among them.
"""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from api.db import raw_transaction
from api.tickets import reevaluation


async def request(raw: asyncpg.Connection, reason: str) -> None:
    """Ask for a pass over the open tickets (in the caller's transaction: only if the change commits)."""
    await reevaluation.request(raw, reason)


async def request_for_calendar(conn: AsyncConnection, calendar_id: uuid.UUID, version: int | None) -> None:
    """A business calendar changed: re-evaluate when an active policy counts business time with it."""
    raw = await raw_transaction(conn)
    in_use = await raw.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sla_policies WHERE calendar_id = $1 AND active)", calendar_id
    )
    if in_use:
        await request(raw, f"business calendar {calendar_id} version {version}")
