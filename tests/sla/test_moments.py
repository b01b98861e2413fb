"""A ticket's one SLA timer: due at the earliest warning or breach instant ahead; fired, it records every
moment passed by then, once, and moves to the next one. Legacy per-metric timers still fire, once, and
a ticket's next change cancels them."""

from __future__ import annotations

import datetime as dt

import asyncpg

from api.db import asyncpg_dsn, utcnow
from tests.sla.helpers import (
    URGENT,
    age,
    create_policy,
    due_of,
    fire_due_timers,
    metric_of,
    moments_of,
    sla_timer_due,
    timers_of,
)
from tests.tickets.helpers import create_ticket

MINUTE = dt.timedelta(minutes=1)
TWO_METRICS = {
    **URGENT,
    "targets": {"urgent": {"first_response": {"minutes": 30}, "resolution": {"minutes": 60}}},
}


async def _ticket(client, headers, database_url):
    ticket = await create_ticket(client, headers, priority="urgent")
    assert await timers_of(database_url, ticket["id"]) == [("sla", "")]
    return ticket


async def test_the_timer_moves_from_the_warning_to_the_breach_and_on_to_the_next_metric(
    client, admin_headers, agent, database_url, engine, settings
):
    _, headers = agent
    await create_policy(client, admin_headers)  # first response 60 min, warned 10 min ahead; resolution 240
    ticket = await _ticket(client, headers, database_url)
    first = due_of(metric_of(ticket, "first_response"))
    resolution = due_of(metric_of(ticket, "resolution"))
    assert await sla_timer_due(database_url, ticket["id"]) == first - 10 * MINUTE

    await age(database_url, ticket["id"], 55 * MINUTE)  # past the warning, not yet due
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [("sla.warning", "first_response")]
    assert await timers_of(database_url, ticket["id"]) == [("sla", "")]
    assert await sla_timer_due(database_url, ticket["id"]) == first - 55 * MINUTE

    await age(database_url, ticket["id"], 10 * MINUTE)  # past the due instant
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [
        ("sla.warning", "first_response"),
        ("sla.breached", "first_response"),
    ]
    # The next moment is resolution's breach (no warning lead time): the one timer waits for it.
    assert await sla_timer_due(database_url, ticket["id"]) == resolution - 65 * MINUTE
    got = (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
    assert metric_of(got, "first_response")["state"] == "breached"

    # Nothing is recorded twice: running the timers again finds nothing due.
    await fire_due_timers(engine, settings)
    assert len(await moments_of(client, headers, ticket["id"])) == 2


async def test_two_metrics_share_one_timer_at_the_earlier_due_instant(
    client, admin_headers, agent, database_url, engine, settings
):
    _, headers = agent
    await create_policy(client, admin_headers, TWO_METRICS)
    ticket = await _ticket(client, headers, database_url)
    first = due_of(metric_of(ticket, "first_response"))
    resolution = due_of(metric_of(ticket, "resolution"))
    assert await sla_timer_due(database_url, ticket["id"]) == first

    await age(database_url, ticket["id"], 31 * MINUTE)
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [("sla.breached", "first_response")]
    assert await sla_timer_due(database_url, ticket["id"]) == resolution - 31 * MINUTE

    await age(database_url, ticket["id"], 30 * MINUTE)
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [
        ("sla.breached", "first_response"),
        ("sla.breached", "resolution"),
    ]
    assert await timers_of(database_url, ticket["id"]) == []  # nothing ahead: no timer


async def test_one_firing_records_every_moment_passed_since(
    client, admin_headers, agent, database_url, engine, settings
):
    """A runner that was down past several moments records all of them when the timer finally fires."""
    _, headers = agent
    await create_policy(client, admin_headers, TWO_METRICS)
    ticket = await _ticket(client, headers, database_url)
    await age(database_url, ticket["id"], 2 * 60 * MINUTE)
    await fire_due_timers(engine, settings)
    assert sorted(await moments_of(client, headers, ticket["id"])) == [
        ("sla.breached", "first_response"),
        ("sla.breached", "resolution"),
    ]
    assert await timers_of(database_url, ticket["id"]) == []


async def _add_timer(database_url, ticket_id, kind, key, due_at):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "INSERT INTO timers (ticket_id, kind, key, due_at) VALUES ($1, $2, $3, $4)",
            ticket_id,
            kind,
            key,
            due_at,
        )
    finally:
        await conn.close()


async def test_a_change_cancels_leftover_legacy_timers(client, admin_headers, agent, database_url):
    _, headers = agent
    await create_policy(client, admin_headers)
    ticket = await _ticket(client, headers, database_url)
    first = due_of(metric_of(ticket, "first_response"))
    await _add_timer(database_url, ticket["id"], "sla_breach", "first_response", first)
    await _add_timer(database_url, ticket["id"], "sla_warning", "first_response", first - 10 * MINUTE)
    r = await client.patch(f"/v1/tickets/{ticket['id']}", json={"tags": ["x"]}, headers=headers)
    assert r.status_code == 200, r.text
    assert await timers_of(database_url, ticket["id"]) == [("sla", "")]


async def test_a_legacy_breach_timer_firing_alone_records_the_breach_once(
    client, admin_headers, agent, database_url, engine, settings
):
    """As a timer an older process wrote during a rolling deploy: the ticket has no ``sla`` timer."""
    _, headers = agent
    await create_policy(client, admin_headers, TWO_METRICS)
    ticket = await _ticket(client, headers, database_url)
    resolution = due_of(metric_of(ticket, "resolution"))
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("DELETE FROM timers WHERE ticket_id = $1", ticket["id"])
    finally:
        await conn.close()
    await _add_timer(
        database_url,
        ticket["id"],
        "sla_breach",
        "first_response",
        due_of(metric_of(ticket, "first_response")),
    )
    await age(database_url, ticket["id"], 31 * MINUTE)

    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [("sla.breached", "first_response")]
    # The change it made replaced it with the one timer, at resolution's due instant.
    assert await timers_of(database_url, ticket["id"]) == [("sla", "")]
    assert await sla_timer_due(database_url, ticket["id"]) == resolution - 31 * MINUTE

    # A second legacy timer for the same moment (another old process) records nothing more.
    await _add_timer(database_url, ticket["id"], "sla_breach", "first_response", utcnow() - MINUTE)
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [("sla.breached", "first_response")]
    assert await timers_of(database_url, ticket["id"]) == [("sla", "")]


async def test_a_runner_whose_clock_is_behind_the_database_still_records_the_moment(
    client, admin_headers, agent, database_url, engine, settings, monkeypatch
):
    """The timer is due by the database's clock; a runner host a little behind it must not find the
    moment still ahead and drop the ticket's one timer with the moments after it."""
    import api.tickets.service

    _, headers = agent
    await create_policy(client, admin_headers)
    ticket = await _ticket(client, headers, database_url)
    first = due_of(metric_of(ticket, "first_response"))
    await age(database_url, ticket["id"], 51 * MINUTE)  # the warning passed a minute ago
    monkeypatch.setattr(api.tickets.service, "utcnow", lambda: dt.datetime.now(dt.UTC) - 2 * MINUTE)
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [("sla.warning", "first_response")]
    assert await sla_timer_due(database_url, ticket["id"]) == first - 51 * MINUTE
