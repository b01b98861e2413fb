"""Auto-close of resolved tickets: a timer the auto-close hook declares and the runner fires."""

import asyncio
import time

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.db import asyncpg_dsn
from api.jobs import build_jobs
from api.timers.service import TimerJob
from tests.tickets.helpers import create_ticket, events_of


def _job(engine, settings, **overrides) -> TimerJob:
    [job] = [
        j for j in build_jobs(engine, msgspec.structs.replace(settings, **overrides)) if j.name == "timers"
    ]
    return job  # type: ignore[return-value]


async def _drain(job: TimerJob) -> None:
    """Run the job until it finds no due work (a bounded number of batches, not a wait)."""
    for _ in range(50):
        if not await job.run_once():
            return
    raise AssertionError("due timers kept coming")


async def _resolve(client, headers, agent_id):
    t = await create_ticket(client, headers, assignee_id=str(agent_id))
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"}, headers=headers)
    assert r.status_code == 200
    return t["id"]


async def test_resolved_ticket_is_not_closed_before_its_delay(client, agent, engine, settings):
    agent_id, headers = agent
    ticket_id = await _resolve(client, headers, agent_id)  # default delay: 4 days
    assert await _job(engine, settings).run_once() is False
    assert (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).json()["status"] == "resolved"


async def test_due_auto_close_closes_with_system_events(engine, settings, agent):
    agent_id, headers = agent
    fast = msgspec.structs.replace(settings, auto_close_after_seconds=0.0)
    async with AsyncTestClient(create_app(fast)) as client:
        ticket_id = await _resolve(client, headers, agent_id)
        await _job(engine, settings).run_once()
        ticket = (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).json()
        assert ticket["status"] == "closed"
        assert ticket["closed_at"] is not None
        events = await events_of(client, headers, ticket_id)
        assert [e["type"] for e in events[-2:]] == ["ticket.status_changed", "ticket.closed"]
        assert events[-1]["actor"]["type"] == "system"
        # Done once: another run finds nothing.
        assert await _job(engine, settings).run_once() is False
        assert len(await events_of(client, headers, ticket_id)) == len(events)


async def test_reopening_cancels_auto_close(engine, settings, agent, customer_voice_headers):
    agent_id, headers = agent
    fast = msgspec.structs.replace(settings, auto_close_after_seconds=0.0)
    async with AsyncTestClient(create_app(fast)) as client:
        ticket_id = await _resolve(client, headers, agent_id)
        r = await client.post(
            f"/v1/tickets/{ticket_id}/comments",
            json={"body": "no", "author_type": "customer"},
            headers=customer_voice_headers,
        )
        assert r.status_code == 201, r.text
        await _job(engine, settings).run_once()
        assert (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).json()["status"] == "open"


async def test_concurrent_runners_close_each_ticket_once(engine, settings, agent):
    agent_id, headers = agent
    fast = msgspec.structs.replace(settings, auto_close_after_seconds=0.0)
    async with AsyncTestClient(create_app(fast)) as client:
        ids = [await _resolve(client, headers, agent_id) for _ in range(6)]
        jobs = [_job(engine, settings) for _ in range(3)]
        # Each runner works until it finds nothing (a batch stops early to commit when firing is slow, as
        # it is on a busy machine), then one more look picks up what was busy under another runner.
        await asyncio.gather(*(_drain(job) for job in jobs))
        await _drain(jobs[0])
        for ticket_id in ids:
            closed = [e for e in await events_of(client, headers, ticket_id) if e["type"] == "ticket.closed"]
            assert len(closed) == 1


async def test_runner_inside_the_app_closes_due_tickets(engine, settings, agent):
    agent_id, headers = agent
    app_settings = msgspec.structs.replace(settings, auto_close_after_seconds=0.0, run_worker=True)
    async with AsyncTestClient(create_app(app_settings)) as client:
        ticket_id = await _resolve(client, headers, agent_id)
        deadline = time.monotonic() + 10  # NOTIFY wakes the runner well before its 30 s longest sleep
        status = None
        while time.monotonic() < deadline:
            status = (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).json()["status"]
            if status == "closed":
                break
            await asyncio.sleep(0.05)
        assert status == "closed"


async def test_a_refused_close_is_recorded_once_and_not_retried(engine, settings, agent, database_url):
    """Closing is a follow-on change by auto-close, through the lifecycle: were it refused (here the
    assignee was removed behind the API's back, and a resolved ticket needs one), the refusal is recorded
    on the ticket, and the timer's trace keeps it from firing again while the ticket stays as it is."""
    agent_id, headers = agent
    fast = msgspec.structs.replace(settings, auto_close_after_seconds=0.0)
    async with AsyncTestClient(create_app(fast)) as client:
        ticket_id = await _resolve(client, headers, agent_id)
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute("UPDATE tickets SET assignee_id = NULL WHERE id = $1", ticket_id)
        finally:
            await conn.close()
        job = _job(engine, fast)
        await job.run_once()
        events = await events_of(client, headers, ticket_id)
        assert events[-1]["type"] == "ticket.change_refused"
        assert events[-1]["actor"]["name"] == "auto-close"
        assert events[-1]["data"]["rule"] == "resolve-requires-assignee"
        assert (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).json()["status"] == "resolved"
        assert await job.run_once() is False
        assert await _job(engine, fast).run_once() is False  # a restarted runner: still nothing due
        assert len(await events_of(client, headers, ticket_id)) == len(events)
