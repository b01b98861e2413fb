"""SLA results a user can trust, through the API: policies that cannot work are refused, a policy that
starts applying late sees what already happened, a cycle breaches at most once, no match is silent,
unanswered messages are not "met", the full metric set, and targets to the second."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from api.db import asyncpg_dsn
from api.jobs import build_jobs
from tests.conftest import litestar_app
from tests.sla.helpers import (
    POLICIES,
    URGENT,
    age,
    create_policy,
    due_of,
    fire_due_timers,
    metric_of,
    moments_of,
)
from tests.tickets.helpers import create_ticket, events_of

MINUTE = dt.timedelta(minutes=1)


async def _reevaluate(engine, settings):
    [job] = [j for j in build_jobs(engine, settings) if j.name == "sla-reevaluation"]
    for _ in range(10):
        if not await job.run_once():
            return
    raise AssertionError("re-evaluation did not finish")


def _instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def _ticket(client, headers, ticket_id):
    r = await client.get(f"/v1/tickets/{ticket_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


# -- A warning lead at least as long as its target ------------------------------------------------------


async def test_a_warning_lead_not_shorter_than_its_target_is_refused_with_its_path(client, admin_headers):
    body = {**URGENT, "targets": {"urgent": {"first_response": {"minutes": 60, "warning_minutes": 60}}}}
    r = await client.post(POLICIES, json=body, headers=admin_headers)
    assert r.status_code == 422, r.text
    assert [e["path"] for e in r.json()["errors"]] == ["$.targets.urgent.first_response.warning_minutes"]

    policy = await create_policy(client, admin_headers)
    targets = {"urgent": {"resolution": {"seconds": 600, "warning_seconds": 900}}}
    r = await client.patch(f"{POLICIES}/{policy['id']}", json={"targets": targets}, headers=admin_headers)
    assert r.status_code == 422, r.text
    assert [e["path"] for e in r.json()["errors"]] == ["$.targets.urgent.resolution.warning_seconds"]


async def test_a_stored_policy_whose_lead_is_the_target_warns_never_before_the_cycle_started(
    client, admin_headers, agent, database_url
):
    """A policy stored before such leads were refused: ticket creates and changes still work, and the
    warning never lies before the cycle started (there is none: the lead leaves no time to warn in)."""
    _, headers = agent
    policy = await create_policy(client, admin_headers)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE sla_policies SET targets = $2::jsonb WHERE id = $1",
            uuid.UUID(policy["id"]),
            '{"urgent": {"first_response": {"seconds": 3600, "time": "calendar", "warning_seconds": 3600}}}',
        )
    finally:
        await conn.close()
    litestar_app(client).state.sla_cache.drop()
    ticket = await create_ticket(client, headers, priority="urgent")
    first = metric_of(ticket, "first_response")
    assert first["state"] == "running"
    r = await client.patch(f"/v1/tickets/{ticket['id']}", json={"tags": ["x"]}, headers=headers)
    assert r.status_code == 200, r.text
    assert await moments_of(client, headers, ticket["id"]) == []
    explained = (await client.get(f"/v1/tickets/{ticket['id']}/sla", headers=headers)).json()
    [first] = [m for m in explained["metrics"] if m["metric"] == "first_response"]
    assert first["warn_at"] is None


# -- A policy that starts applying late -----------------------------------------------------------------


async def test_a_late_policy_sees_the_reply_and_the_resolution_that_already_happened(
    client, admin_headers, agent, engine, settings
):
    agent_id, headers = agent
    answered = await create_ticket(client, headers, priority="urgent")
    reply = await client.post(
        f"/v1/tickets/{answered['id']}/comments", json={"body": "On it"}, headers=headers
    )
    assert reply.status_code == 201, reply.text
    resolved = await create_ticket(client, headers, priority="urgent", assignee_id=str(agent_id))
    r = await client.patch(f"/v1/tickets/{resolved['id']}", json={"status": "resolved"}, headers=headers)
    assert r.status_code == 200, r.text
    resolved_at = r.json()["resolved_at"]

    await create_policy(client, admin_headers)  # first response 60 min, resolution 240 min
    await _reevaluate(engine, settings)

    got = await _ticket(client, headers, answered["id"])
    first = metric_of(got, "first_response")
    assert (first["state"], first["fulfilled_at"], first["breached_at"]) == (
        "fulfilled",
        reply.json()["created_at"],
        None,
    )
    assert metric_of(got, "resolution")["started_at"] == answered["created_at"]
    got = await _ticket(client, headers, resolved["id"])
    resolution = metric_of(got, "resolution")
    assert (resolution["state"], resolution["fulfilled_at"]) == ("fulfilled", resolved_at)
    consumed = _instant(resolved_at) - _instant(resolved["created_at"])
    assert resolution["consumed_seconds"] == consumed.total_seconds()
    for ticket in (answered, resolved):
        assert await moments_of(client, headers, ticket["id"]) == []


async def test_a_ticket_tagged_into_a_policy_keeps_its_pauses_and_breaches_only_what_is_overdue(
    client, admin_headers, agent, database_url, engine, settings
):
    agent_id, headers = agent
    body = {
        **URGENT,
        "conditions": {"all": [{"field": "tags", "operator": "includes", "value": "vip"}]},
        "targets": {"normal": {"first_response": {"minutes": 30}, "resolution": {"minutes": 240}}},
    }
    await create_policy(client, admin_headers, body)
    ticket = await create_ticket(client, headers, assignee_id=str(agent_id))
    path = f"/v1/tickets/{ticket['id']}"
    pending = await client.patch(path, json={"status": "pending"}, headers=headers)
    opened = await client.patch(path, json={"status": "open"}, headers=headers)
    assert opened.status_code == 200, opened.text
    tagged = await client.patch(path, json={"tags": ["vip"]}, headers=headers)
    assert tagged.status_code == 200, tagged.text
    resolution = metric_of(tagged.json(), "resolution")
    assert [(p["start"], p["end"], p["reason"]) for p in resolution["pauses"]] == [
        (pending.json()["updated_at"], opened.json()["updated_at"], "pending")
    ]
    # The policy counts from creation, minus the pause, as if it had applied all along.
    created = _instant(ticket["created_at"])
    paused = _instant(opened.json()["updated_at"]) - _instant(pending.json()["updated_at"])
    assert due_of(resolution) == created + 240 * MINUTE + paused
    assert metric_of(tagged.json(), "first_response")["started_at"] == ticket["created_at"]
    assert await moments_of(client, headers, ticket["id"]) == []


async def test_a_late_policy_reports_a_breach_still_open_once_and_none_for_a_met_cycle(
    client, admin_headers, agent, database_url, engine, settings
):
    _, headers = agent
    ticket = await create_ticket(client, headers, priority="urgent")
    await create_policy(client, admin_headers)
    await _reevaluate(engine, settings)
    await age(database_url, ticket["id"], 2 * 60 * MINUTE)  # two hours unanswered
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [
        ("sla.warning", "first_response"),
        ("sla.breached", "first_response"),
    ]


# -- At most one breach per cycle -----------------------------------------------------------------------


async def test_a_relaxed_target_lets_a_breached_cycle_run_again_but_it_breaches_only_once(
    client, admin_headers, agent, database_url, engine, settings
):
    _, headers = agent
    body = {**URGENT, "targets": {"urgent": {"first_response": {"minutes": 30}}}}
    policy = await create_policy(client, admin_headers, body)
    ticket = await create_ticket(client, headers, priority="urgent")
    await age(database_url, ticket["id"], 31 * MINUTE)
    await fire_due_timers(engine, settings)
    first = metric_of(await _ticket(client, headers, ticket["id"]), "first_response")
    assert first["state"] == "breached"
    breached_at = first["breached_at"]
    assert first["first_breached_at"] == breached_at

    targets = {"urgent": {"first_response": {"minutes": 60}}}
    r = await client.patch(f"{POLICIES}/{policy['id']}", json={"targets": targets}, headers=admin_headers)
    assert r.status_code == 200, r.text
    await _reevaluate(engine, settings)
    got = await _ticket(client, headers, ticket["id"])
    first = metric_of(got, "first_response")
    assert (first["state"], first["breached_at"], first["first_breached_at"]) == (
        "running",
        None,
        breached_at,
    )
    listed = await client.get("/v1/tickets", params={"sla_breached": "true"}, headers=headers)
    assert listed.json()["data"] == []  # no stale breached flag

    await age(database_url, ticket["id"], 30 * MINUTE)  # past the relaxed due instant too
    await fire_due_timers(engine, settings)
    first = metric_of(await _ticket(client, headers, ticket["id"]), "first_response")
    assert first["state"] == "breached"  # overdue again, and shown so…
    assert _instant(first["first_breached_at"]) < _instant(first["breached_at"])
    assert (await moments_of(client, headers, ticket["id"])) == [("sla.breached", "first_response")]  # …once


# -- No silent policy -----------------------------------------------------------------------------------


async def test_a_matching_policy_without_targets_for_the_priority_falls_through_to_the_next(
    client, admin_headers, agent
):
    _, headers = agent
    vip = {
        "name": "VIP urgent",
        "position": 0,
        "conditions": {"all": [{"field": "tags", "operator": "includes", "value": "vip"}]},
        "targets": {"urgent": {"first_response": {"minutes": 15}}},
    }
    everyone = {
        "name": "Everyone",
        "position": 1,
        "targets": {"normal": {"first_response": {"minutes": 240}}},
    }
    await create_policy(client, admin_headers, vip)
    fallback = await create_policy(client, admin_headers, everyone)
    ticket = await create_ticket(client, headers, tags=["vip"])
    assert ticket["sla"] is not None
    assert ticket["sla"]["policy_id"] == fallback["id"]
    assert metric_of(ticket, "first_response")["target_seconds"] == 240 * 60


# -- An unanswered message is not met -------------------------------------------------------------------


async def test_resolving_without_answering_the_last_message_cancels_next_response(
    client, admin_headers, agent, customer_voice_headers
):
    agent_id, headers = agent
    body = {
        **URGENT,
        "targets": {"urgent": {"first_response": {"minutes": 60}, "next_response": {"minutes": 30}}},
    }
    await create_policy(client, admin_headers, body)
    ticket = await create_ticket(client, headers, priority="urgent", assignee_id=str(agent_id))
    comments = f"/v1/tickets/{ticket['id']}/comments"
    assert (await client.post(comments, json={"body": "On it"}, headers=headers)).status_code == 201
    customer = {"body": "Still broken", "author_type": "customer"}
    assert (await client.post(comments, json=customer, headers=customer_voice_headers)).status_code == 201
    r = await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=headers)
    assert r.status_code == 200, r.text
    following = metric_of(r.json(), "next_response")
    assert (following["state"], following["fulfilled_at"]) == ("cancelled", None)
    assert following["cancelled_at"] == r.json()["resolved_at"]
    [resolved] = [e for e in await events_of(client, headers, ticket["id"]) if e["type"] == "ticket.resolved"]
    results = {m["metric"]: m["result"] for m in resolved["data"]["sla_outcome"]["metrics"]}
    assert results == {"first_response": "met", "next_response": "cancelled"}


# -- The complete metric set ----------------------------------------------------------------------------


async def test_requester_wait_total_resolution_and_the_unpaused_update_clock(
    client, admin_headers, agent, database_url, engine, settings
):
    agent_id, headers = agent
    body = {
        **URGENT,
        "targets": {
            "urgent": {
                "periodic_update": {"minutes": 60},
                "periodic_update_unpaused": {"minutes": 60, "warning_minutes": 5},
                "requester_wait": {"minutes": 120},
                "resolution": {"minutes": 240},
                "total_resolution": {"minutes": 480},
            }
        },
    }
    r = await client.post(POLICIES, json=body, headers=admin_headers)
    assert r.status_code == 201, r.text
    ticket = await create_ticket(client, headers, priority="urgent", assignee_id=str(agent_id))
    assert {m["metric"] for m in ticket["sla"]["metrics"]} == {
        "requester_wait",
        "resolution",
        "total_resolution",
    }
    path = f"/v1/tickets/{ticket['id']}"
    assert (await client.post(f"{path}/comments", json={"body": "Hi"}, headers=headers)).status_code == 201
    on_hold = (await client.patch(path, json={"status": "on_hold"}, headers=headers)).json()
    states = {m["metric"]: m["state"] for m in on_hold["sla"]["metrics"]}
    assert states == {
        "periodic_update": "paused",
        "periodic_update_unpaused": "running",
        "requester_wait": "running",  # waiting on a third party: the requester still waits
        "resolution": "paused",
        "total_resolution": "running",
    }
    pending = (await client.patch(path, json={"status": "pending"}, headers=headers)).json()
    states = {m["metric"]: m["state"] for m in pending["sla"]["metrics"]}
    assert states["requester_wait"] == "paused"
    assert states["total_resolution"] == states["periodic_update_unpaused"] == "running"

    # The unpaused update clock warns and breaches while the ticket waits on the customer.
    await age(database_url, ticket["id"], 61 * MINUTE)
    await fire_due_timers(engine, settings)
    assert await moments_of(client, headers, ticket["id"]) == [
        ("sla.warning", "periodic_update_unpaused"),
        ("sla.breached", "periodic_update_unpaused"),
    ]
    explained = (await client.get(f"{path}/sla", headers=headers)).json()
    assert {m["metric"] for m in explained["metrics"]} == set(states)

    resolved = await client.patch(path, json={"status": "resolved"}, headers=headers)
    assert resolved.status_code == 200, resolved.text
    total = metric_of(resolved.json(), "total_resolution")
    created, done = _instant(resolved.json()["created_at"]), _instant(resolved.json()["resolved_at"])
    assert total["state"] == "fulfilled"
    assert total["consumed_seconds"] == (done - created).total_seconds()  # never paused
    unpaused = metric_of(resolved.json(), "periodic_update_unpaused")
    assert (unpaused["state"], unpaused["breached_at"] is not None) == ("cancelled", True)
    [event] = [e for e in await events_of(client, headers, ticket["id"]) if e["type"] == "ticket.resolved"]
    results = {m["metric"]: m["result"] for m in event["data"]["sla_outcome"]["metrics"]}
    assert results["periodic_update_unpaused"] == "breached"  # the breach stands in the outcome
    assert results["periodic_update"] == "cancelled"


# -- Seconds precision ----------------------------------------------------------------------------------


async def test_targets_and_warning_leads_take_seconds(client, admin_headers, agent, database_url):
    _, headers = agent
    body = {**URGENT, "targets": {"urgent": {"first_response": {"seconds": 90, "warning_seconds": 30}}}}
    policy = await create_policy(client, admin_headers, body)
    assert policy["targets"] == {
        "urgent": {"first_response": {"seconds": 90, "time": "calendar", "warning_seconds": 30}}
    }
    ticket = await create_ticket(client, headers, priority="urgent")
    first = metric_of(ticket, "first_response")
    assert (first["target_seconds"], first["warning_seconds"]) == (90, 30)
    assert due_of(first) == _instant(ticket["created_at"]) + dt.timedelta(seconds=90)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        timer = await conn.fetchval("SELECT due_at FROM timers WHERE ticket_id = $1", ticket["id"])
    finally:
        await conn.close()
    assert timer == due_of(first) - dt.timedelta(seconds=30)

    # The minutes fields are still accepted, and read back in seconds.
    legacy = {"urgent": {"resolution": {"minutes": 2, "warning_minutes": 1}}}
    r = await client.patch(f"{POLICIES}/{policy['id']}", json={"targets": legacy}, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["targets"]["urgent"]["resolution"] == {
        "seconds": 120,
        "time": "calendar",
        "warning_seconds": 60,
    }
    both = {"urgent": {"resolution": {"minutes": 2, "seconds": 120}}}
    r = await client.patch(f"{POLICIES}/{policy['id']}", json={"targets": both}, headers=admin_headers)
    assert r.status_code == 422
    assert [e["path"] for e in r.json()["errors"]] == ["$.targets.urgent.resolution.minutes"]
    neither = {"urgent": {"resolution": {"time": "calendar"}}}
    r = await client.patch(f"{POLICIES}/{policy['id']}", json={"targets": neither}, headers=admin_headers)
    assert r.status_code == 422
    assert [e["path"] for e in r.json()["errors"]] == ["$.targets.urgent.resolution.seconds"]
