"""One condition language, two compilations: on random tickets stored in PostgreSQL and random condition
trees (business-time facts included), the SQL selects exactly the tickets the Python predicate accepts.

Instants are drawn near the thresholds a tree's time facts compute (on them, and a microsecond either
side), subjects mix ASCII and non-ASCII letters of both cases, and SLA documents are shaped as the SLA hook
writes them (``sla_due_at`` the earliest running due instant, ``sla_breached`` any breach).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.calendars import businesstime
from api.calendars.businesstime import Schedule, WeeklyInterval
from api.conditions.compile import compile_tree
from api.conditions.fields import CHANNELS, FIELDS, METRICS, PRIORITIES, STATUSES
from api.conditions.tree import parse
from api.db import asyncpg_dsn
from api.tickets import store

UTC = dt.UTC
NOW_BASE = dt.datetime(2025, 3, 10, 13, 30, tzinfo=UTC)  # the Monday after New York's spring forward
CALENDARS = {
    uuid.UUID(int=1): Schedule("America/New_York", tuple(WeeklyInterval(d, 540, 1020) for d in range(5))),
    uuid.UUID(int=2): Schedule(
        "Europe/Berlin",
        (*(WeeklyInterval(d, 480, 720) for d in range(5)), *(WeeklyInterval(d, 780, 1080) for d in range(5))),
        holidays=frozenset({dt.date(2025, 3, 7)}),
    ),
    uuid.UUID(int=3): Schedule("Asia/Kolkata", always_open=True),
}
TAGS = ["vip", "billing", "bug", "Vip"]
MINUTES = [1, 30, 60, 240, 480, 1440, 2880]
SUBJECT_PIECES = ["log", "LOG", "in", "Straße", "STRASSE", "é", "É", "İ", "i", "ß", " ", "refund"]
FIELD_NAMES = sorted(FIELDS)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


class Pools(msgspec.Struct):
    agents: list[uuid.UUID]
    groups: list[uuid.UUID]
    customers: list[uuid.UUID]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, Pools]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        agents = [
            await conn.fetchval(
                "INSERT INTO agents (name, email) VALUES ($1, $2) RETURNING id", f"A{i}", f"a{i}@x.io"
            )
            for i in range(2)
        ]
        groups = [
            await conn.fetchval("INSERT INTO groups (name) VALUES ($1) RETURNING id", f"G{i}")
            for i in range(2)
        ]
        customers = [
            await conn.fetchval(
                "INSERT INTO customers (name, email) VALUES ($1, $2) RETURNING id", f"C{i}", f"c{i}@x.io"
            )
            for i in range(2)
        ]
        yield conn, Pools(agents, groups, customers)
    finally:
        await conn.close()


# -- Strategies -----------------------------------------------------------------------------------------


def durations() -> st.SearchStrategy[dict[str, Any]]:
    calendar = st.fixed_dictionaries({"minutes": st.sampled_from(MINUTES), "time": st.just("calendar")})
    business = st.fixed_dictionaries(
        {
            "minutes": st.sampled_from(MINUTES),
            "time": st.just("business"),
            "calendar_id": st.sampled_from([str(c) for c in CALENDARS]),
        }
    )
    return st.one_of(calendar, business)


def value_for(field_name: str, operator: str, pools: Pools) -> st.SearchStrategy[Any]:
    field = FIELDS[field_name]
    if operator in ("changed", "not_changed"):
        return st.none()
    if field.type == "comment":
        return st.fixed_dictionaries({}, optional={"visibility": st.sampled_from(["public", "internal"])})
    if field.type == "enum":
        one = st.sampled_from(field.values)
        return st.lists(one, min_size=1, max_size=3) if operator in ("in", "not_in") else one
    if field.type == "id":
        ids = (
            pools.customers
            if field_name == "requester_id"
            else (pools.agents if "assignee" in field_name else pools.groups)
        )
        one = st.sampled_from([str(i) for i in ids] + [str(uuid.UUID(int=99))])
        if operator in ("in", "not_in"):
            return st.lists(one, min_size=1, max_size=3)
        return one if field_name == "requester_id" else st.one_of(st.none(), one)
    if field.type == "tags":
        return st.sampled_from(TAGS)
    if field.type == "text":
        return st.lists(st.sampled_from(SUBJECT_PIECES), min_size=1, max_size=2).map("".join)
    if field.type == "count":
        return st.integers(0, 4)
    if field.type == "boolean":
        return st.booleans()
    if field.type == "duration":
        return durations()
    raise AssertionError(field_name)


@st.composite
def conditions(draw: st.DrawFn, pools: Pools, trigger: str) -> dict[str, Any]:
    """A condition an ``on_time`` rule (state and time facts) or an ``on_change`` rule (state and change
    facts) may hold; change facts, decided only by a change, hold in a preview on both sides."""
    refused = "change" if trigger == "on_time" else "time"
    name = draw(st.sampled_from([n for n in FIELD_NAMES if FIELDS[n].kinds - {refused}]))
    operators = sorted(op for op, spec in FIELDS[name].operators.items() if spec.kind != refused)
    operator = draw(st.sampled_from(operators))
    return {"field": name, "operator": operator, "value": draw(value_for(name, operator, pools))}


@st.composite
def trees(draw: st.DrawFn, pools: Pools, trigger: str) -> dict[str, Any]:
    # Small trees, so that each condition often decides the outcome.
    def node() -> Any:
        if draw(st.integers(0, 3)) == 0:
            return {
                "all": draw(st.lists(conditions(pools, trigger), max_size=2)),
                "any": draw(st.lists(conditions(pools, trigger), max_size=2)),
            }
        return draw(conditions(pools, trigger))

    return {
        "all": [node() for _ in range(draw(st.integers(0, 2)))],
        "any": [node() for _ in range(draw(st.integers(0, 2)))],
    }


def thresholds(tree_json: dict[str, Any], trigger: str, now: dt.datetime) -> list[dt.datetime]:
    """The instants the tree's time facts compare with: tickets are drawn on and around them."""
    found = [now]
    program = compile_tree(parse(tree_json, trigger))  # type: ignore[arg-type]
    found.extend(program.at(now, CALENDARS).instants)
    return [t for t in found if businesstime.MIN_INSTANT < t < businesstime.MAX_INSTANT]


@st.composite
def instants(draw: st.DrawFn, near: list[dt.datetime], nullable: bool = True) -> dt.datetime | None:
    if nullable and draw(st.integers(0, 4)) == 0:
        return None
    base = draw(st.sampled_from(near))
    if draw(st.integers(0, 2)) > 0:
        return base + dt.timedelta(microseconds=draw(st.sampled_from([-1, 0, 1])))
    return base + dt.timedelta(microseconds=draw(st.integers(-5 * 86_400 * 10**6, 5 * 86_400 * 10**6)))


@st.composite
def sla_documents(draw: st.DrawFn, near: list[dt.datetime]) -> tuple[str | None, dt.datetime | None, bool]:
    if draw(st.integers(0, 3)) == 0:
        return None, None, False
    metrics = []
    for metric in draw(st.lists(st.sampled_from(METRICS), unique=True, max_size=4)):
        metrics.append(
            {
                "metric": metric,
                "due_at": draw(instants(near)),
                "fulfilled_at": draw(instants(near)),
                "breached_at": draw(instants(near)),
            }
        )
    running = [m["due_at"] for m in metrics if m["due_at"] is not None and m["fulfilled_at"] is None]
    breached = any(m["breached_at"] is not None for m in metrics)
    document = msgspec.json.encode({"policy_id": str(uuid.UUID(int=5)), "metrics": metrics}).decode()
    return document, min(running, default=None), breached


@st.composite
def tickets(draw: st.DrawFn, pools: Pools, near: list[dt.datetime]) -> dict[str, Any]:
    sla, sla_due_at, sla_breached = draw(sla_documents(near))
    return {
        "subject": draw(st.lists(st.sampled_from(SUBJECT_PIECES), min_size=1, max_size=4).map("".join)),
        "status": draw(st.sampled_from(STATUSES)),
        "priority": draw(st.sampled_from(PRIORITIES)),
        "channel": draw(st.sampled_from(CHANNELS)),
        "requester_id": draw(st.sampled_from(pools.customers)),
        "assignee_id": draw(st.one_of(st.none(), st.sampled_from(pools.agents))),
        "group_id": draw(st.one_of(st.none(), st.sampled_from(pools.groups))),
        "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
        "comment_count": draw(st.integers(0, 4)),
        "created_at": draw(instants(near, nullable=False)),
        "updated_at": draw(instants(near, nullable=False)),
        "resolved_at": draw(instants(near)),
        "status_changed_at": draw(instants(near)),
        "last_customer_message_at": draw(instants(near)),
        "last_agent_reply_at": draw(instants(near)),
        "sla": sla,
        "sla_due_at": sla_due_at,
        "sla_breached": sla_breached,
    }


_COLUMNS = (
    "subject, status, priority, channel, requester_id, assignee_id, group_id, tags, comment_count, "
    "created_at, updated_at, resolved_at, status_changed_at, last_customer_message_at, last_agent_reply_at, "
    "sla, sla_due_at, sla_breached"
)
_INSERT = (
    f"INSERT INTO tickets ({_COLUMNS}, search) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17, $18, ''::tsvector)"
)


# -- The property -----------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
async def test_sql_selects_exactly_the_tickets_the_python_predicate_accepts(db, data):
    conn, pools = db
    now = NOW_BASE + dt.timedelta(
        microseconds=data.draw(st.integers(-4 * 86_400 * 10**6, 4 * 86_400 * 10**6))
    )
    trigger = data.draw(st.sampled_from(["on_time", "on_change"]))
    tree_json = data.draw(trees(pools, trigger))
    near = thresholds(tree_json, trigger, now)
    rows = data.draw(st.lists(tickets(pools, near), min_size=1, max_size=8))
    bound = compile_tree(parse(tree_json, trigger)).at(now, CALENDARS)  # type: ignore[arg-type]
    try:
        await conn.executemany(_INSERT, [tuple(row[c.strip()] for c in _COLUMNS.split(",")) for row in rows])
        stored = await conn.fetch(f"{store.SELECT} ORDER BY t.id")
        expected = [row["id"] for row in stored if bound.holds(row)]
        params = store.Params()
        where = bound.sql(params)
        selected = [
            r["id"]
            for r in await conn.fetch(
                f"SELECT t.id FROM tickets t WHERE {where} ORDER BY t.id", *params.values
            )
        ]
        assert selected == expected, (tree_json, where)
    finally:
        await conn.execute("DELETE FROM tickets")


def test_the_sql_text_depends_on_the_shape_not_the_values():
    def sql(tree: dict[str, Any], now: dt.datetime) -> str:
        return compile_tree(parse(tree, "on_time")).at(now, CALENDARS).sql(store.Params())

    def tree(priority: str, minutes: int, tag: str) -> dict[str, Any]:
        return {
            "all": [
                {"field": "priority", "operator": "is", "value": priority},
                {
                    "field": "since_created",
                    "operator": "at_least",
                    "value": {"minutes": minutes, "time": "business", "calendar_id": str(uuid.UUID(int=1))},
                },
            ],
            "any": [
                {"field": "tags", "operator": "includes", "value": tag},
                {"field": "subject", "operator": "contains", "value": "x'; DROP"},
            ],
        }

    first = sql(tree("low", 60, "vip"), NOW_BASE)
    assert first == sql(tree("urgent", 240, "x'--"), NOW_BASE + dt.timedelta(days=3))
    for value in ("vip", "low", "DROP"):
        assert value not in first
