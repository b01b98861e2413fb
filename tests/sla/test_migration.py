"""Migration 0320: per-metric ``sla_warning``/``sla_breach`` timers become one ``sla`` timer per ticket,
and back again from the stored SLA documents."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import msgspec

from api.db import asyncpg_dsn
from api.migrations import downgrade, upgrade
from api.sla import clocks
from api.sla.hook import clock_metric, decode

T0 = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)


def _at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _metric_doc(name: str, **state: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metric": name,
        "cycle": 1,
        "state": "running",
        "target_minutes": 60,
        "business": False,
        "warning_minutes": 0,
        "started_at": T0,
        "running_since": T0,
        "consumed_seconds": 0.0,
        "due_at": _at(60),
        "warned_at": None,
        "breached_at": None,
        "fulfilled_at": None,
        "pauses": [],
        "earlier_cycles": [],
        "remaining_seconds": None,
    }
    doc.update(state)
    return doc


def _sla(*metrics: dict[str, Any]) -> str:
    document = {
        "policy_id": uuid.uuid4(),
        "policy_version": 1,
        "calendar_id": None,
        "calendar_version": None,
        "metrics": list(metrics),
    }
    return msgspec.json.encode(document).decode()


# A: a warning ahead on first response, breaches ahead on both metrics, a fulfilled and a breached metric.
A = _sla(
    _metric_doc("first_response", warning_minutes=10, due_at=_at(30)),
    _metric_doc("resolution", target_minutes=240, due_at=_at(240)),
    _metric_doc("next_response", state="fulfilled", running_since=None, fulfilled_at=_at(5)),
    _metric_doc("periodic_update", state="breached", breached_at=_at(-1), due_at=_at(-1)),
)
# B: warned already (only the breach is ahead); the other metric paused (no due instant).
B = _sla(
    _metric_doc("first_response", warning_minutes=10, warned_at=_at(50)),
    _metric_doc("resolution", state="paused", running_since=None, due_at=None),
)

# The legacy timers the earlier hook kept for A and B (what the downgrade must rebuild).
LEGACY = {
    "A": {
        ("sla_warning", "first_response"): _at(20),
        ("sla_breach", "first_response"): _at(30),
        ("sla_breach", "resolution"): _at(240),
    },
    "B": {("sla_breach", "first_response"): _at(60)},
}


_INSERT_TIMER = "INSERT INTO timers (ticket_id, kind, key, due_at) VALUES ($1, $2, $3, $4)"


async def _seed(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        customer = await conn.fetchval(
            "INSERT INTO customers (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id"
        )
        ids = {}
        for name, sla in (("A", A), ("B", B), ("C", None)):
            ids[name] = await conn.fetchval(
                "INSERT INTO tickets (subject, requester_id, sla, search) "
                "VALUES ($1, $2, $3::text::jsonb, ''::tsvector) RETURNING id",
                name,
                customer,
                sla,
            )
        rows = [
            (ids[t], kind, key, due) for t, timers in LEGACY.items() for (kind, key), due in timers.items()
        ]
        rows.append((ids["C"], "auto_close", "", _at(1000)))
        await conn.executemany(_INSERT_TIMER, rows)
        # A's warning timer failed once: the converted timer keeps its retry state.
        await conn.execute(
            "UPDATE timers SET attempts = 1, last_error = 'boom' "
            "WHERE ticket_id = $1 AND kind = 'sla_warning'",
            ids["A"],
        )
    finally:
        await conn.close()
    return ids


async def _timers(url: str) -> dict[tuple[int, str, str], tuple[dt.datetime, int]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT ticket_id, kind, key, due_at, attempts FROM timers")
    finally:
        await conn.close()
    return {(r["ticket_id"], r["kind"], r["key"]): (r["due_at"], r["attempts"]) for r in rows}


def test_legacy_timers_become_one_per_ticket_and_come_back_on_downgrade(fresh_database):
    url = fresh_database()  # type: ignore[operator]
    upgrade(url, "0310")
    ids = asyncio.run(_seed(url))
    auto_close = {(ids["C"], "auto_close", ""): (_at(1000), 0)}

    upgrade(url, "0320")
    assert asyncio.run(_timers(url)) == {
        (ids["A"], "sla", ""): (_at(20), 1),  # the earliest: A's warning
        (ids["B"], "sla", ""): (_at(60), 0),
        **auto_close,
    }

    downgrade(url, "0310")
    legacy = {
        (ids[t], kind, key): (due, 0) for t, timers in LEGACY.items() for (kind, key), due in timers.items()
    }
    assert asyncio.run(_timers(url)) == {**legacy, **auto_close}

    upgrade(url)
    assert {k: due for k, (due, _) in asyncio.run(_timers(url)).items()} == {
        (ids["A"], "sla", ""): _at(20),
        (ids["B"], "sla", ""): _at(60),
        (ids["C"], "auto_close", ""): _at(1000),
    }


def test_the_downgrade_rebuilds_what_the_clocks_say_is_ahead():
    """The fixtures above are the earlier hook's timers: ``clocks.next_moments`` of each document."""
    kinds = {"warning": "sla_warning", "breached": "sla_breach"}
    for name, document in (("A", A), ("B", B)):
        sla = decode(document)
        assert sla is not None
        moments = clocks.next_moments({m.metric: clock_metric(m) for m in sla.metrics})
        assert {(kinds[kind], str(metric)): due for (kind, metric), due in moments.items()} == LEGACY[name]


def test_an_sla_timer_already_there_keeps_the_earlier_instant(fresh_database):
    url = fresh_database()  # type: ignore[operator]
    upgrade(url, "0310")
    ids = asyncio.run(_seed(url))

    async def add_sla_timers() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            # Written by a new process during a rolling deploy: earlier than A's legacy ones, later than B's.
            await conn.executemany(
                _INSERT_TIMER, [(ids["A"], "sla", "", _at(10)), (ids["B"], "sla", "", _at(70))]
            )
        finally:
            await conn.close()

    asyncio.run(add_sla_timers())
    upgrade(url, "0320")
    timers = asyncio.run(_timers(url))
    assert timers[(ids["A"], "sla", "")][0] == _at(10)
    assert timers[(ids["B"], "sla", "")][0] == _at(60)
    assert not [k for k in timers if k[1] in ("sla_warning", "sla_breach")]
