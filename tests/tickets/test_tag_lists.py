"""One tag's list in creation order is read from ``ticket_tags`` (migration 0330), which triggers keep.

The oracle is the unfiltered list (read from ``tickets``), filtered here: every tag, status set, order,
date range and page size must give the same tickets, after tags, statuses and assignees changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import asyncpg

from api.db import asyncpg_dsn
from api.migrations import downgrade, upgrade
from tests.tickets.helpers import all_pages, create_ticket

TAGS = ("vip", "bug", "billing")
STATUS_SETS = (None, ["new"], ["open"], ["open", "pending"], ["pending", "open", "open"], ["resolved", "new"])

# What ticket_tags must hold: one row per distinct tag of each ticket, with its status and creation.
_DRIFT = """
(SELECT tag, status, created_at, ticket_id FROM ticket_tags
 EXCEPT SELECT DISTINCT u.tag, t.status, t.created_at, t.id FROM tickets t, unnest(t.tags) u(tag))
UNION ALL
(SELECT DISTINCT u.tag, t.status, t.created_at, t.id FROM tickets t, unnest(t.tags) u(tag)
 EXCEPT SELECT tag, status, created_at, ticket_id FROM ticket_tags)
"""


async def _drift(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(_DRIFT)
    finally:
        await conn.close()


async def test_one_tag_lists_match_the_tickets_after_every_kind_of_change(client, agent, database_url):
    _, headers = agent
    rng = random.Random(20261130)
    for n in range(24):
        tags = rng.sample(TAGS, rng.randint(0, 3))
        await create_ticket(client, headers, subject=f"Ticket {n}", tags=tags)
    ids = await all_pages(client, headers, 200)
    for ticket_id in rng.sample(ids, 16):  # statuses (resolving assigns the agent), tags, both, neither
        body = rng.choice(
            [
                {"status": rng.choice(["open", "pending", "on_hold", "resolved"])},
                {"tags": rng.sample(TAGS, rng.randint(0, 3))},
                {"status": "pending", "tags": [rng.choice(TAGS), rng.choice(TAGS)]},
                {"priority": "high"},
            ]
        )
        r = await client.patch(f"/v1/tickets/{ticket_id}", json=body, headers=headers)
        assert r.status_code == 200, r.text
    assert await _drift(database_url) == []

    everything = (await client.get("/v1/tickets", params={"limit": 200}, headers=headers)).json()["data"]
    middle = dt.datetime.fromisoformat(everything[len(everything) // 2]["created_at"])
    for tag in (*TAGS, "absent"):
        for statuses in STATUS_SETS:
            expected = [
                t["id"]
                for t in everything
                if tag in t["tags"] and (statuses is None or t["status"] in statuses)
            ]
            params = {"tag": tag, **({"status": statuses} if statuses else {})}
            for limit in (1, 3, 50):
                assert await all_pages(client, headers, limit, **params) == expected, (params, limit)
            assert await all_pages(client, headers, 2, sort="created", **params) == expected[::-1], params
            since = [
                t["id"]
                for t in everything
                if t["id"] in expected and dt.datetime.fromisoformat(t["created_at"]) >= middle
            ]
            got = await all_pages(client, headers, 2, created_after=middle.isoformat(), **params)
            assert got == since, params


async def _seed_before_0330(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        customer = await conn.fetchval(
            "INSERT INTO customers (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id"
        )
        for status, tags in (("new", ["a", "b"]), ("open", ["b"]), ("pending", []), ("closed", ["a", "a"])):
            await conn.execute(
                "INSERT INTO tickets (subject, status, requester_id, tags, search) "
                "VALUES ('s', $1, $2, $3, ''::tsvector)",
                status,
                customer,
                tags,
            )
    finally:
        await conn.close()


async def _count_then_delete_the_new_ticket(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        before = await conn.fetchval("SELECT count(*) FROM ticket_tags")
        await conn.execute("DELETE FROM tickets WHERE status = 'new'")
        return before, await conn.fetchval("SELECT count(*) FROM ticket_tags")
    finally:
        await conn.close()


def test_the_migration_fills_ticket_tags_from_existing_tickets(fresh_database):
    url = fresh_database()  # type: ignore[operator]
    upgrade(url, "0320")
    asyncio.run(_seed_before_0330(url))
    upgrade(url)
    assert asyncio.run(_drift(url)) == []
    # a and b of the new ticket, b, a once: then deleting a ticket takes its rows along.
    assert asyncio.run(_count_then_delete_the_new_ticket(url)) == (4, 2)
    assert asyncio.run(_drift(url)) == []
    downgrade(url, "0320")
    upgrade(url)
    assert asyncio.run(_drift(url)) == []
