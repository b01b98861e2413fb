"""The ticket instants and count that rule conditions read: kept by every write path, and backfilled by
migration 0345 from the comments and the status-change events."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg

from api.db import asyncpg_dsn
from api.migrations import upgrade
from tests.tickets.helpers import create_ticket

FACTS = "status, created_at, status_changed_at, last_customer_message_at, last_agent_reply_at, comment_count"


async def facts(database_url: str, ticket_id: int) -> dict[str, Any]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return dict(await conn.fetchrow(f"SELECT {FACTS} FROM tickets WHERE id = $1", ticket_id))
    finally:
        await conn.close()


async def comment_at(database_url: str, ticket_id: int) -> dt.datetime:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found: dt.datetime = await conn.fetchval(
            "SELECT max(created_at) FROM comments WHERE ticket_id = $1", ticket_id
        )
        return found
    finally:
        await conn.close()


async def test_write_paths_keep_the_instants_rules_read(client, agent, database_url, customer_voice_headers):
    _, headers = agent
    ticket = await create_ticket(client, headers)
    tid = ticket["id"]
    created = await facts(database_url, tid)
    assert created["status_changed_at"] == created["last_customer_message_at"] == created["created_at"]
    assert created["last_agent_reply_at"] is None
    assert created["comment_count"] == 1

    # An internal note counts, and changes no instant.
    r = await client.post(
        f"/v1/tickets/{tid}/comments", json={"body": "checking", "public": False}, headers=headers
    )
    assert r.status_code == 201, r.text
    note = await facts(database_url, tid)
    assert note == {**created, "comment_count": 2}

    # The first public agent reply opens the ticket: a status change and a reply.
    r = await client.post(f"/v1/tickets/{tid}/comments", json={"body": "on it"}, headers=headers)
    assert r.status_code == 201, r.text
    replied = await facts(database_url, tid)
    at = await comment_at(database_url, tid)
    assert replied["status"] == "open"
    assert replied["last_agent_reply_at"] == replied["status_changed_at"] == at
    assert replied["comment_count"] == 3

    r = await client.patch(f"/v1/tickets/{tid}", json={"status": "pending"}, headers=headers)
    assert r.status_code == 200, r.text
    pending = await facts(database_url, tid)
    assert pending["status_changed_at"] > replied["status_changed_at"]
    r = await client.patch(f"/v1/tickets/{tid}", json={"priority": "high"}, headers=headers)
    assert (await facts(database_url, tid))["status_changed_at"] == pending["status_changed_at"]

    # The customer's reply reopens it.
    body = {"body": "still broken", "author_type": "customer"}
    r = await client.post(f"/v1/tickets/{tid}/comments", json=body, headers=customer_voice_headers)
    assert r.status_code == 201, r.text
    reopened = await facts(database_url, tid)
    at = await comment_at(database_url, tid)
    assert reopened["status"] == "open"
    assert reopened["last_customer_message_at"] == reopened["status_changed_at"] == at
    assert reopened["last_agent_reply_at"] == replied["last_agent_reply_at"]
    assert reopened["comment_count"] == 4


_SEED = """
WITH c AS (INSERT INTO customers (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id)
INSERT INTO tickets (subject, requester_id, search, created_at, status)
SELECT s, c.id, ''::tsvector, '2030-01-01T00:00:00Z', st FROM c, (VALUES ('A', 'open'), ('B', 'new')) v(s, st)
RETURNING id
"""
_COMMENT = (
    "INSERT INTO comments (ticket_id, author_type, public, body, created_at) VALUES ($1, $2, $3, 'x', $4)"
)


_EVENT = "INSERT INTO events (ticket_id, type, created_at, actor_type) VALUES ($1, $2, $3, 'agent')"


def _at(minutes: int) -> dt.datetime:
    return dt.datetime(2030, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)


async def _seed_and_read(url: str) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        a, b = [r["id"] for r in await conn.fetch(_SEED)]
        await conn.executemany(
            _COMMENT,
            [
                (a, "customer", True, _at(0)),
                (a, "agent", False, _at(5)),
                (a, "agent", True, _at(10)),
                (a, "customer", True, _at(20)),
                (a, "agent", False, _at(30)),
            ],
        )
        events = [(a, "ticket.status_changed", _at(10)), (a, "ticket.status_changed", _at(15))]
        events.append((b, "ticket.updated", _at(50)))
        await conn.executemany(_EVENT, events)
    finally:
        await conn.close()
    return {"A": a, "B": b}  # type: ignore[return-value]


def test_migration_backfills_the_instants_from_comments_and_events(fresh_database):
    url = fresh_database()  # type: ignore[operator]
    upgrade(url, "0330")
    ids = asyncio.run(_seed_and_read(url))
    upgrade(url, "0345_rules")
    a = asyncio.run(facts(url, ids["A"]))
    assert a["comment_count"] == 5
    assert a["last_customer_message_at"] == _at(20)
    assert a["last_agent_reply_at"] == _at(10)
    assert a["status_changed_at"] == _at(15)
    b = asyncio.run(facts(url, ids["B"]))
    assert b["comment_count"] == 0
    assert b["last_customer_message_at"] is None
    assert b["last_agent_reply_at"] is None
    assert b["status_changed_at"] == b["created_at"] == _at(0)
