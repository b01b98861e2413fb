"""Shared test helpers: synthetic events and database peeks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.webhooks.catalog import Person, TicketResolvedData, TicketSummary
from api.webhooks.publish import OutgoingEvent, publish

ENDPOINTS = "/v1/webhooks/endpoints"
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def resolved_event(ticket_id: int = 42) -> OutgoingEvent:
    requester = Person(id=uuid.uuid4(), name="Ada Lovelace", email="ada@example.com")
    agent = Person(id=uuid.uuid4(), name="Grace Hopper", email="grace@example.com")
    ticket = TicketSummary(
        id=ticket_id,
        subject="Printer on fire",
        status="resolved",
        priority="high",
        channel="email",
        requester=requester,
        assignee=agent,
        group=None,
        group_id=None,
        tags=["hardware"],
        follow_up_of=None,
        version=4,
        created_at=NOW - dt.timedelta(hours=2),
        updated_at=NOW,
    )
    data = TicketResolvedData(
        ticket=ticket,
        resolved_by=agent,
        resolved_at=NOW,
        time_to_resolution_seconds=7200,
        previous_status="open",
    )
    return OutgoingEvent(type="ticket.resolved", data=data)


async def publish_committed(engine: AsyncEngine, *events: OutgoingEvent) -> int:
    async with engine.begin() as conn:
        return await publish(conn, events)


async def create_endpoint(client: Any, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await client.post(ENDPOINTS, json=body, headers=auth)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def execute(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(sql), params)
