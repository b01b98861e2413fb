"""Migration 0340_sla_results: policies, policy versions and ticket SLA documents move to seconds and gain
the new document fields; the downgrade gives the earlier code what it knows."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import msgspec

from api.db import asyncpg_dsn
from api.migrations import downgrade, upgrade
from api.sla.hook import clock_metric
from api.sla.policies import decode_targets
from api.sla.schemas import TicketSla

T0 = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
OLD_TARGETS = {
    "urgent": {
        "first_response": {"minutes": 60, "time": "calendar", "warning_minutes": 10},
        "resolution": {"minutes": 30, "time": "calendar", "warning_minutes": 30},  # lead = target
    },
    "normal": {"next_response": {"minutes": 5, "time": "calendar", "warning_minutes": 0}},
}


def _iso(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _metric(name: str, **state: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metric": name,
        "cycle": 1,
        "state": "running",
        "target_minutes": 60,
        "business": False,
        "warning_minutes": 10,
        "started_at": _iso(0),
        "running_since": _iso(0),
        "consumed_seconds": 0.0,
        "due_at": _iso(60),
        "warned_at": None,
        "breached_at": None,
        "fulfilled_at": None,
        "pauses": [],
        "earlier_cycles": [],
        "remaining_seconds": None,
    }
    doc.update(state)
    return doc


OLD_DOCUMENT = {
    "policy_id": None,  # the seeded policy's
    "policy_version": 1,
    "calendar_id": None,
    "calendar_version": None,
    "metrics": [
        _metric("first_response", state="breached", breached_at=_iso(60)),
        _metric("resolution", target_minutes=30, warning_minutes=30, due_at=_iso(30)),
        _metric(
            "next_response",
            cycle=2,
            target_minutes=5,
            warning_minutes=0,
            earlier_cycles=[
                {
                    "cycle": 1,
                    "target_minutes": 5,
                    "started_at": _iso(1),
                    "fulfilled_at": _iso(3),
                    "breached_at": None,
                }
            ],
        ),
    ],
}


async def _seed(url: str) -> tuple[uuid.UUID, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        policy_id = await conn.fetchval(
            "INSERT INTO sla_policies (name, position, conditions, targets) "
            "VALUES ('Old', 0, '{\"all\": [], \"any\": []}'::jsonb, $1::jsonb) RETURNING id",
            json.dumps(OLD_TARGETS),
        )
        version = {"id": str(policy_id), "version": 1, "name": "Old", "targets": OLD_TARGETS}
        await conn.execute(
            "INSERT INTO sla_policy_versions (policy_id, version, document) VALUES ($1, 1, $2::jsonb)",
            policy_id,
            json.dumps(version),
        )
        customer = await conn.fetchval(
            "INSERT INTO customers (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id"
        )
        ticket_id = await conn.fetchval(
            "INSERT INTO tickets (subject, priority, requester_id, sla, search) "
            "VALUES ('A', 'urgent', $1, $2::jsonb, ''::tsvector) RETURNING id",
            customer,
            json.dumps({**OLD_DOCUMENT, "policy_id": str(policy_id)}),
        )
    finally:
        await conn.close()
    return policy_id, ticket_id


async def _read(url: str, policy_id: uuid.UUID, ticket_id: int) -> tuple[Any, Any, Any]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        targets = await conn.fetchval("SELECT targets::text FROM sla_policies WHERE id = $1", policy_id)
        version = await conn.fetchval(
            "SELECT document::text FROM sla_policy_versions WHERE policy_id = $1", policy_id
        )
        sla = await conn.fetchval("SELECT sla::text FROM tickets WHERE id = $1", ticket_id)
    finally:
        await conn.close()
    return json.loads(targets), json.loads(version), sla


def test_targets_and_documents_move_to_seconds_and_back(fresh_database):
    url = fresh_database()  # type: ignore[operator]
    upgrade(url, "0330")
    policy_id, ticket_id = asyncio.run(_seed(url))

    upgrade(url, "0340_sla_results")
    targets, version, document = asyncio.run(_read(url, policy_id, ticket_id))
    converted = {
        "urgent": {
            "first_response": {"seconds": 3600, "time": "calendar", "warning_seconds": 600},
            # A lead as long as the target could never warn: dropped.
            "resolution": {"seconds": 1800, "time": "calendar", "warning_seconds": 0},
        },
        "normal": {"next_response": {"seconds": 300, "time": "calendar", "warning_seconds": 0}},
    }
    assert targets == converted
    assert version["targets"] == converted
    assert msgspec.to_builtins(decode_targets(json.dumps(targets))) == converted  # the stored form decodes

    sla = msgspec.json.decode(document, type=TicketSla)
    assert sla.measured == ["first_response", "resolution"]  # what its policy version sets for urgent
    first, resolution, following = sla.metrics
    assert (first.target_seconds, first.warning_seconds, first.first_breached_at) == (
        3600,
        600,
        T0 + dt.timedelta(minutes=60),
    )
    assert (resolution.target_seconds, resolution.warning_seconds, resolution.warning_minutes) == (1800, 0, 0)
    assert clock_metric(resolution).warn_at is None
    assert following.earlier_cycles[0].target_seconds == 300
    assert following.cancelled_at is None
    raw = json.loads(document)["metrics"][2]
    assert raw["earlier_cycles"][0]["cancelled_at"] is None  # in the stored text, as lists render it

    upgrade(url)
    downgrade(url, "0330")
    targets, version, document = asyncio.run(_read(url, policy_id, ticket_id))
    expected = json.loads(json.dumps(OLD_TARGETS))
    expected["urgent"]["resolution"]["warning_minutes"] = 0
    assert targets == expected
    assert version["targets"] == expected
    restored = json.loads(document)
    old = json.loads(json.dumps({**OLD_DOCUMENT, "policy_id": str(policy_id)}))
    old["metrics"][1]["warning_minutes"] = 0
    assert restored == old


def test_the_downgrade_drops_what_the_earlier_code_does_not_know(fresh_database):
    url = fresh_database()  # type: ignore[operator]
    upgrade(url, "0330")
    policy_id, ticket_id = asyncio.run(_seed(url))
    upgrade(url, "0340_sla_results")
    conn_url = asyncpg_dsn(url)

    async def add_new_things() -> None:
        conn = await asyncpg.connect(conn_url)
        try:
            await conn.execute(
                "UPDATE sla_policies SET targets = jsonb_set(targets, '{urgent,total_resolution}', "
                '\'{"seconds": 90, "time": "calendar", "warning_seconds": 30}\')'
            )
            await conn.execute(
                """UPDATE tickets SET sla = jsonb_set(jsonb_set(sla, '{metrics,2,state}', '"cancelled"'),
                       '{metrics,2,cancelled_at}', to_jsonb('2030-01-01T13:00:00Z'::text))"""
            )
        finally:
            await conn.close()

    asyncio.run(add_new_things())
    downgrade(url, "0330")
    targets, _, document = asyncio.run(_read(url, policy_id, ticket_id))
    assert set(targets["urgent"]) == {"first_response", "resolution"}
    following = json.loads(document)["metrics"][2]
    assert (following["state"], following["fulfilled_at"]) == ("fulfilled", "2030-01-01T13:00:00Z")
