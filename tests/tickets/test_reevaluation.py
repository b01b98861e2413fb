"""Re-evaluation: every registered hook over the open tickets in background batches — writing and
notifying only what changed, re-arming any feature's timers, never starving tickets under frequent edits."""

from __future__ import annotations

import asyncpg
import msgspec

from api.db import asyncpg_dsn
from api.jobs import build_jobs
from api.tickets import reevaluation
from tests.conftest import app_client
from tests.sla.helpers import POLICIES, create_policy, metric_of
from tests.tickets.helpers import create_ticket, events_of


def _job(engine, settings):
    [job] = [j for j in build_jobs(engine, settings) if j.name == "sla-reevaluation"]
    return job


async def _run_all(job) -> None:
    for _ in range(100):
        if not await job.run_once():
            return
    raise AssertionError("the passes did not finish")


async def _fetch(database_url: str, query: str, *args):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def test_a_policy_edit_nothing_depends_on_writes_and_notifies_no_ticket(
    client, admin_headers, agent, engine, settings, database_url
):
    """A rename changes no clock: no ticket is written, none gets ``sla.updated``, no ETag moves."""
    _, headers = agent
    policy = await create_policy(client, admin_headers)
    tickets = [await create_ticket(client, headers, priority="urgent") for _ in range(3)]
    await _run_all(_job(engine, settings))  # the creation's own pass
    etags = [(await client.get(f"/v1/tickets/{t['id']}", headers=headers)).headers["etag"] for t in tickets]

    r = await client.patch(f"{POLICIES}/{policy['id']}", json={"name": "Renamed"}, headers=admin_headers)
    assert r.status_code == 200, r.text
    await _run_all(_job(engine, settings))
    [(changed,)] = await _fetch(
        database_url, "SELECT tickets_changed FROM sla_reevaluations ORDER BY id DESC LIMIT 1"
    )
    assert changed == 0
    for ticket, etag in zip(tickets, etags, strict=True):
        r = await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)
        assert r.headers["etag"] == etag
        assert r.json()["sla"]["policy_version"] == 1  # computed by version 1, which counts the same
        assert "sla.updated" not in [e["type"] for e in await events_of(client, headers, ticket["id"])]
    # A later change of the ticket does not announce the renamed version either.
    r = await client.patch(f"/v1/tickets/{tickets[0]['id']}", json={"tags": ["x"]}, headers=headers)
    assert r.status_code == 200, r.text
    assert "sla.updated" not in [e["type"] for e in await events_of(client, headers, tickets[0]["id"])]

    # An edit the clocks do depend on still reaches every ticket.
    targets = {"urgent": {"first_response": {"minutes": 30}, "resolution": {"minutes": 240}}}
    r = await client.patch(f"{POLICIES}/{policy['id']}", json={"targets": targets}, headers=admin_headers)
    await _run_all(_job(engine, settings))
    for ticket in tickets:
        got = (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
        assert (got["sla"]["policy_version"], metric_of(got, "first_response")["target_minutes"]) == (3, 30)


async def test_frequent_policy_edits_do_not_starve_the_tickets_an_earlier_pass_has_not_reached(
    client, admin_headers, agent, engine, settings, monkeypatch
):
    """An edit between every batch: each new pass goes on where the one it replaces had got to, so every
    ticket reaches a recent version while the edits go on, and all reach the last one when they stop."""
    monkeypatch.setattr(reevaluation, "BATCH", 2)
    _, headers = agent
    policy = await create_policy(client, admin_headers)
    tickets = [await create_ticket(client, headers, priority="urgent") for _ in range(6)]
    job = _job(engine, settings)
    await _run_all(job)
    for minutes in (31, 32, 33):  # three edits, one batch of two tickets after each
        targets = {"urgent": {"first_response": {"minutes": minutes}}}
        r = await client.patch(f"{POLICIES}/{policy['id']}", json={"targets": targets}, headers=admin_headers)
        assert r.status_code == 200, r.text
        assert await job.run_once() is True

    def first_target(ticket):
        return metric_of(ticket, "first_response")["target_minutes"]

    got = [(await client.get(f"/v1/tickets/{t['id']}", headers=headers)).json() for t in tickets]
    assert [first_target(t) for t in got] == [31, 31, 32, 32, 33, 33]  # no ticket left on 60

    await _run_all(job)
    got = [(await client.get(f"/v1/tickets/{t['id']}", headers=headers)).json() for t in tickets]
    assert [first_target(t) for t in got] == [33] * 6
    assert {t["sla"]["policy_version"] for t in got} == {4}
    counts = [
        [e["type"] for e in await events_of(client, headers, t["id"])].count("sla.updated") for t in tickets
    ]
    assert counts == [2, 2, 2, 2, 1, 1]  # one per version that reached the ticket


async def test_a_changed_auto_close_delay_re_arms_resolved_tickets_in_the_background(
    engine, settings, agent, database_url
):
    """Re-evaluation is every feature's: a process starting with another auto-close delay asks for a
    pass, which moves the auto-close timers of resolved tickets (an SLA-only pass would refuse to)."""
    agent_id, headers = agent
    await _run_all(_job(engine, settings))  # records the delay this deployment runs with (4 days)
    async with app_client(settings) as client:
        ticket = await create_ticket(client, headers, assignee_id=str(agent_id))
        r = await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=headers)
        assert r.status_code == 200, r.text
    [(due, resolved)] = await _fetch(
        database_url,
        "SELECT t.due_at, k.resolved_at FROM timers t JOIN tickets k ON k.id = t.ticket_id "
        "WHERE kind = 'auto_close'",
    )
    assert (due - resolved).days == 4

    hour = msgspec.structs.replace(settings, auto_close_after_seconds=3600.0)
    await _run_all(_job(engine, hour))
    [(due, resolved)] = await _fetch(
        database_url,
        "SELECT t.due_at, k.resolved_at FROM timers t JOIN tickets k ON k.id = t.ticket_id "
        "WHERE kind = 'auto_close'",
    )
    assert (due - resolved).total_seconds() == 3600
    [(reason,)] = await _fetch(database_url, "SELECT reason FROM sla_reevaluations ORDER BY id DESC LIMIT 1")
    assert "auto_close_after_seconds" in reason
    await _run_all(_job(engine, hour))  # the same delay again: no other pass
    assert len(await _fetch(database_url, "SELECT 1 FROM sla_reevaluations")) == 1
