"""Dry runs and explanations: what a rule (saved or not) matches now and would do, and why a ticket
matches or not — computed, never applied.

A dry run counts the matching tickets exactly and reads the first page of them (:func:`_matches`), with
the rule's conditions compiled to SQL (:mod:`api.conditions.compile`). Time facts are one instant each,
computed in Python before the query, so a business-hours condition costs the database what a
calendar-time one does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from api.calendars.businesstime import Schedule
from api.conditions import explain as explaining
from api.conditions.compile import Bound, MissingCalendar, Program, compile_tree
from api.conditions.fields import FIELDS
from api.db import utcnow
from api.errors import FieldError, NotFound, Unprocessable
from api.rules import templates
from api.rules.actions import Directory, Member, plan, referenced
from api.rules.schemas import (
    Action,
    ConditionResult,
    DryRun,
    FieldInfo,
    GroupResult,
    OperatorInfo,
    RuleCatalog,
    RuleExplanation,
    TicketBrief,
    TicketPreview,
)
from api.rules.service import checked_tree
from api.tickets import store

LoadSchedule = Callable[[asyncpg.Connection, uuid.UUID], Awaitable[Schedule | None]]
"""The current schedule of a business calendar (None: no such calendar), from the per-process cache."""

# Rules never change a closed ticket (closed is final, except for tags): previews leave them out.
_MATCHING = "FROM tickets t WHERE t.status <> 'closed' AND {where}"
# First the page is looked for among the first _WALK_BUDGET tickets in id order, which finds it at once
# when matches are dense and costs little when they are not. A plain ``ORDER BY id LIMIT n`` would let
# the planner walk the whole primary key hoping to meet matches early, reading the table by index when
# they are the newest tickets (3.8 s for "resolved in the last 30 days" at 1,000,000 tickets).
_WALK_BUDGET = 20_000
_WALK = """
SELECT id FROM (
    SELECT t.id, {where} AS matches FROM tickets t WHERE t.status <> 'closed' ORDER BY t.id LIMIT {budget}
) walked WHERE matches ORDER BY id LIMIT {limit}
"""
# Page found: the exact count, a scan PostgreSQL runs in parallel.
_COUNT = f"SELECT count(*) {_MATCHING}"
# Page not found (matches are sparse, or lie further on): count and page in one scan, the matches sorted
# (``t.id + 0`` keeps the primary key out of the plan, see above).
_COUNTED_PAGE = f"SELECT t.id, count(*) OVER () AS matched {_MATCHING} ORDER BY t.id + 0 LIMIT {{limit}}"
_ROWS = f"{store.SELECT} WHERE t.id = ANY($1::bigint[]) ORDER BY t.id"


async def _matches(raw: asyncpg.Connection, bound: Bound, limit: int) -> tuple[int, list[asyncpg.Record]]:
    """How many tickets match (exactly) and the rows of the first ``limit`` of them by id: one scan of
    the table (bench/rules_dry_run.py)."""
    params = store.Params()
    walk = _WALK.format(where=bound.sql(params), budget=params.add(_WALK_BUDGET), limit=params.add(limit))
    ids = [row["id"] for row in await raw.fetch(walk, *params.values)]
    params = store.Params()
    if len(ids) == limit:
        matched: int = await raw.fetchval(_COUNT.format(where=bound.sql(params)), *params.values)
    else:
        page = _COUNTED_PAGE.format(where=bound.sql(params), limit=params.add(limit))
        found = await raw.fetch(page, *params.values)
        ids, matched = [row["id"] for row in found], found[0]["matched"] if found else 0
    return matched, (await raw.fetch(_ROWS, ids) if ids else [])


async def _bound(
    raw: asyncpg.Connection, program: Program, load: LoadSchedule, now: dt.datetime
) -> tuple[Bound, dict[uuid.UUID, Schedule]]:
    """The program at ``now`` with the schedules of its business calendars."""
    schedules: dict[uuid.UUID, Schedule] = {}
    for calendar_id in program.calendar_ids:
        schedule = await load(raw, calendar_id)
        if schedule is not None:
            schedules[calendar_id] = schedule
    try:
        return program.at(now, schedules), schedules
    except MissingCalendar as missing:
        paths = [
            f"{leaf.path}.value.calendar_id"
            for leaf in program.tree.leaves()
            if getattr(leaf.value, "calendar_id", None) == missing.calendar_id
        ]
        raise Unprocessable(
            f"Business calendar {missing.calendar_id} no longer exists.",
            errors=[FieldError("body", path, "no business calendar with this id") for path in paths],
        ) from None


_MEMBERS = """
SELECT gm.group_id, a.id, a.name, a.email,
       (SELECT count(*) FROM tickets t
        WHERE t.assignee_id = a.id AND t.status IN ('new', 'open', 'pending', 'on_hold')) AS open_tickets
FROM group_members gm JOIN agents a ON a.id = gm.agent_id
WHERE gm.group_id = ANY($1::uuid[]) AND a.active
ORDER BY a.name, a.id
"""


async def load_directory(raw: asyncpg.Connection, actions: Sequence[Action]) -> Directory:
    """The agents and groups the actions name, with each group's active members and their open tickets."""
    agents, groups = referenced(actions)
    directory = Directory()
    if agents:
        for row in await raw.fetch(
            "SELECT id, name, email FROM agents WHERE id = ANY($1::uuid[])", list(agents)
        ):
            directory.agents[row["id"]] = (row["name"], row["email"])
    if groups:
        for row in await raw.fetch("SELECT id, name FROM groups WHERE id = ANY($1::uuid[])", list(groups)):
            directory.groups[row["id"]] = row["name"]
        for row in await raw.fetch(_MEMBERS, list(groups)):
            member = Member(row["id"], row["name"], row["email"], row["open_tickets"])
            directory.members.setdefault(row["group_id"], []).append(member)
    return directory


def _brief(row: Any) -> TicketBrief:
    return TicketBrief(
        id=row["id"],
        subject=row["subject"],
        status=row["status"],
        priority=row["priority"],
        assignee_id=row["assignee_id"],
        group_id=row["group_id"],
        tags=list(row["tags"]),
        updated_at=row["updated_at"],
    )


async def dry_run(
    raw: asyncpg.Connection, load: LoadSchedule, trigger: Any, tree: Any, actions: list[Action], limit: int
) -> DryRun:
    """Which tickets (not closed) match the rule now (exact count, first ``limit`` by id) and what its
    actions would change on each. Nothing is written."""
    parsed = await checked_tree(raw, trigger, tree, actions, require_time_fact=False)
    program = compile_tree(parsed)
    now = utcnow()
    bound, _ = await _bound(raw, program, load, now)
    matched, rows = await _matches(raw, bound, limit)
    directory = await load_directory(raw, actions)
    tickets = []
    for row in rows:
        planned = plan(row, actions, directory)
        tickets.append(
            TicketPreview(
                ticket=_brief(row),
                changes=planned.changes,
                comments=planned.comments,
                events=planned.events,
                refused=planned.refused,
            )
        )
    return DryRun(evaluated_at=now, matched=matched, tickets=tickets, unevaluated=list(program.change_paths))


async def explain(
    raw: asyncpg.Connection,
    load: LoadSchedule,
    trigger: Any,
    tree: Any,
    ticket_id: int,
    *,
    rule_id: uuid.UUID | None = None,
    rule_version: int | None = None,
) -> RuleExplanation:
    """Each condition's value for the ticket now and whether it holds."""
    parsed = await checked_tree(raw, trigger, tree, [], require_time_fact=False)
    row = await raw.fetchrow(store.GET, ticket_id)
    if row is None:
        raise NotFound(f"Ticket {ticket_id} does not exist.")
    program = compile_tree(parsed)
    now = utcnow()
    bound, schedules = await _bound(raw, program, load, now)
    found = explaining.explain(bound, row, schedules)
    return RuleExplanation(
        rule_id=rule_id,
        rule_version=rule_version,
        ticket_id=ticket_id,
        evaluated_at=now,
        holds=found.holds,
        conditions=[
            ConditionResult(
                path=c.path, field=c.field, operator=c.operator, value=c.value, actual=c.actual, holds=c.holds
            )
            for c in found.conditions
        ],
        groups=[GroupResult(path=g.path, holds=g.holds) for g in found.groups],
    )


def catalog() -> RuleCatalog:
    fields = [
        FieldInfo(
            name=f.name,
            type=f.type,
            description=f.description,
            operators=[
                OperatorInfo(name=op.name, kind=op.kind, value=op.value) for op in f.operators.values()
            ],
            values=list(f.values) or None,
        )
        for f in FIELDS.values()
    ]
    return RuleCatalog(fields=fields, placeholders=sorted(templates.PLACEHOLDERS))
