"""Timers: at most one live timer per (ticket, kind, key), moved or deleted by every change, fired once,
and runners sleep until the earliest one."""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec

from api.db import asyncpg_dsn
from api.jobs import build_jobs
from api.timers import service as timers
from api.timers.service import MAX_SLEEP_SECONDS, TimerJob
from tests.conftest import app_client
from tests.tickets.helpers import create_ticket


def _job(engine, settings) -> TimerJob:
    [job] = [j for j in build_jobs(engine, settings) if j.name == "timers"]
    return job  # type: ignore[return-value]


async def _timers(database_url: str) -> list[tuple[int, str, str, float]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT ticket_id, kind, key, extract(epoch FROM due_at - now())::float8 AS due_in "
            "FROM timers ORDER BY ticket_id, kind, key"
        )
    finally:
        await conn.close()
    return [(r["ticket_id"], r["kind"], r["key"], r["due_in"]) for r in rows]


async def _status(client, headers, ticket_id: int, status: str) -> None:
    r = await client.patch(f"/v1/tickets/{ticket_id}", json={"status": status}, headers=headers)
    assert r.status_code == 200, r.text


async def test_every_change_leaves_exactly_the_declared_timers(client, agent, database_url):
    agent_id, headers = agent
    t = await create_ticket(client, headers, assignee_id=str(agent_id))
    assert await _timers(database_url) == []
    await _status(client, headers, t["id"], "resolved")
    [(ticket_id, kind, key, _)] = await _timers(database_url)
    assert (ticket_id, kind, key) == (t["id"], "auto_close", "")
    await _status(client, headers, t["id"], "open")  # reopening cancels it
    assert await _timers(database_url) == []
    await _status(client, headers, t["id"], "resolved")
    await _status(client, headers, t["id"], "pending")
    await _status(client, headers, t["id"], "resolved")
    assert [row[:3] for row in await _timers(database_url)] == [(t["id"], "auto_close", "")]


async def test_a_customer_reply_cancels_auto_close_too(client, agent, database_url, customer_voice_headers):
    agent_id, headers = agent
    t = await create_ticket(client, headers, assignee_id=str(agent_id))
    await _status(client, headers, t["id"], "resolved")
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments",
        json={"body": "still broken", "author_type": "customer"},
        headers=customer_voice_headers,
    )
    assert r.status_code == 201, r.text
    assert await _timers(database_url) == []


async def test_fired_timers_leave_no_rows(engine, settings, agent, database_url):
    agent_id, headers = agent
    fast = msgspec.structs.replace(settings, auto_close_after_seconds=0.0)
    async with app_client(fast) as client:
        t = await create_ticket(client, headers, assignee_id=str(agent_id))
        await _status(client, headers, t["id"], "resolved")
    assert len(await _timers(database_url)) == 1
    assert await _job(engine, fast).run_once() is False
    assert await _timers(database_url) == []


async def test_a_batch_commits_once_its_time_is_up_and_the_rest_follow(
    engine, settings, agent, database_url, monkeypatch
):
    agent_id, headers = agent
    monkeypatch.setattr(timers, "COMMIT_WITHIN_SECONDS", 0.0)  # every timer takes "too long"
    fast = msgspec.structs.replace(settings, auto_close_after_seconds=0.0)
    async with app_client(fast) as client:
        for _ in range(3):
            t = await create_ticket(client, headers, assignee_id=str(agent_id))
            await _status(client, headers, t["id"], "resolved")
    job = _job(engine, fast)
    # One timer per transaction: the claimed rest are released and the runner is told to go on.
    for left in (2, 1):
        assert await job.run_once() is True
        assert len(await _timers(database_url)) == left
    assert await job.run_once() is False
    assert await _timers(database_url) == []


async def test_a_runner_never_waits_for_a_ticket_a_change_holds(engine, settings, agent, database_url):
    """A change locks its ticket, then writes its timers; a runner holding the timer and waiting for the
    ticket would deadlock with it. The runner skips the busy ticket and fires the timer afterwards."""
    agent_id, headers = agent
    fast = msgspec.structs.replace(settings, auto_close_after_seconds=0.0)
    async with app_client(fast) as client:
        t = await create_ticket(client, headers, assignee_id=str(agent_id))
        await _status(client, headers, t["id"], "resolved")
    job = _job(engine, fast)
    change = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with change.transaction():
            await change.execute("SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE", t["id"])
            await asyncio.wait_for(job.run_once(), timeout=10)  # would wait for the lock without the fix
            assert len(await _timers(database_url)) == 1  # not fired: its ticket was busy
            assert job.poll_interval == timers.IDLE_RECHECK_SECONDS
    finally:
        await change.close()
    assert await job.run_once() is False
    assert await _timers(database_url) == []


async def test_runner_sleeps_until_the_earliest_timer(engine, settings, agent):
    agent_id, headers = agent
    job = _job(engine, settings)
    await job.run_once()
    assert job.poll_interval == MAX_SLEEP_SECONDS  # nothing scheduled
    soon = msgspec.structs.replace(settings, auto_close_after_seconds=12.0)
    async with app_client(soon) as client:
        t = await create_ticket(client, headers, assignee_id=str(agent_id))
        await _status(client, headers, t["id"], "resolved")
    await job.run_once()
    assert 10.0 < job.poll_interval <= 12.01
