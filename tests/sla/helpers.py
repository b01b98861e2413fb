"""Helpers for SLA tests: policies, a ticket's timers and metrics, and letting its time pass."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from api.db import asyncpg_dsn
from api.jobs import build_jobs
from api.sla.schemas import TicketSla
from tests.tickets.helpers import events_of

MOMENT_EVENTS = ("sla.warning", "sla.breached")

POLICIES = "/v1/sla-policies"
URGENT = {
    "name": "Urgent",
    "conditions": {"all": [{"field": "priority", "operator": "is", "value": "urgent"}]},
    "targets": {
        "urgent": {
            "first_response": {"minutes": 60, "warning_minutes": 10},
            "resolution": {"minutes": 240},
        }
    },
}


async def create_policy(client, headers, body=URGENT):
    r = await client.post(POLICIES, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def timers_of(database_url, ticket_id):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT kind, key FROM timers WHERE ticket_id = $1 ORDER BY kind, key", ticket_id
        )
    finally:
        await conn.close()
    return [(r["kind"], r["key"]) for r in rows]


async def sla_timer_due(database_url, ticket_id):
    """The due instant of the ticket's one SLA timer (None without one)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await conn.fetchval(
            "SELECT due_at FROM timers WHERE ticket_id = $1 AND kind = 'sla' AND key = ''", ticket_id
        )
    finally:
        await conn.close()


def metric_of(ticket, name):
    return next(m for m in ticket["sla"]["metrics"] if m["metric"] == name)


def due_of(metric):
    return dt.datetime.fromisoformat(metric["due_at"])


async def age(database_url, ticket_id, delta):
    """Let ``delta`` pass for the ticket: every instant of its SLA document, its creation and its timers
    move that far into the past (the timers fire by the database's clock, so time cannot be faked)."""

    def back(instant):
        return None if instant is None else instant - delta

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            document = await conn.fetchval(
                "SELECT sla::text FROM tickets WHERE id = $1 FOR UPDATE", ticket_id
            )
            sla = msgspec.json.decode(document, type=TicketSla)
            metrics = []
            for m in sla.metrics:
                assert not m.earlier_cycles  # not moved here: no test needs them yet
                metrics.append(
                    msgspec.structs.replace(
                        m,
                        started_at=m.started_at - delta,
                        running_since=back(m.running_since),
                        due_at=back(m.due_at),
                        warned_at=back(m.warned_at),
                        breached_at=back(m.breached_at),
                        first_breached_at=back(m.first_breached_at),
                        fulfilled_at=back(m.fulfilled_at),
                        cancelled_at=back(m.cancelled_at),
                        pauses=[
                            msgspec.structs.replace(p, start=p.start - delta, end=back(p.end))
                            for p in m.pauses
                        ],
                    )
                )
            document = msgspec.json.encode(msgspec.structs.replace(sla, metrics=metrics)).decode()
            await conn.execute(
                "UPDATE tickets SET sla = $2::text::jsonb, sla_due_at = sla_due_at - $3::interval, "
                "created_at = created_at - $3::interval WHERE id = $1",
                ticket_id,
                document,
                delta,
            )
            await conn.execute(
                "UPDATE timers SET due_at = due_at - $2::interval WHERE ticket_id = $1", ticket_id, delta
            )
    finally:
        await conn.close()


async def fire_due_timers(engine, settings):
    """Run the timer job until no due timer is left (a bounded number of batches, not a wait)."""
    [job] = [j for j in build_jobs(engine, settings) if j.name == "timers"]
    for _ in range(20):
        if not await job.run_once():
            return
    raise AssertionError("due timers kept coming")


async def moments_of(client, headers, ticket_id):
    """The SLA moments recorded for the ticket, in order: (event type, metric)."""
    events = await events_of(client, headers, ticket_id)
    return [(e["type"], e["data"]["metric"]["metric"]) for e in events if e["type"] in MOMENT_EVENTS]
