"""SQL for tickets on the raw asyncpg connection: one statement per read, joins instead of extra queries.

Ticket reads and writes are the hot paths (see bench/); the ORM's per-row overhead is not affordable
there, so rows are fetched with hand-written SQL and turned into wire structs directly.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from api.sql import json_timestamp
from api.tickets.schemas import GroupSummary, PersonSummary, TicketRead

# Columns of a ticket with its requester, assignee and group; ``t`` is the tickets table or a CTE.
COLUMNS = """
t.id, t.subject, t.status, t.priority, t.channel, t.tags, t.external_ref, t.follow_up_of, t.version,
t.created_at, t.updated_at, t.first_agent_reply_at, t.resolved_at, t.closed_at, t.priority_rank,
t.requester_id, c.name AS requester_name, c.email AS requester_email,
t.assignee_id, a.name AS assignee_name, a.email AS assignee_email,
t.group_id, g.name AS group_name
"""
JOINS = """
JOIN customers c ON c.id = t.requester_id
LEFT JOIN agents a ON a.id = t.assignee_id
LEFT JOIN groups g ON g.id = t.group_id
"""
SELECT = f"SELECT {COLUMNS} FROM tickets t {JOINS}"

GET_FOR_UPDATE = f"{SELECT} WHERE t.id = $1 FOR UPDATE OF t"


def _document(requester: str, assignee: str, group: str) -> str:
    """``row_to_json`` of a subselect keeps the struct's field order and writes compact JSON, so the text
    is byte for byte what msgspec writes for the same ticket (tests/tickets/test_rendering.py holds the
    two renderings together). The nested objects are SQL expressions yielding a record or NULL."""
    return f"""row_to_json((SELECT d FROM (SELECT
    t.id, t.subject, t.status, t.priority, t.channel, {requester} AS requester, {assignee} AS assignee,
    {group} AS "group", t.tags, t.external_ref, t.follow_up_of, t.version,
    {json_timestamp("t.created_at")} AS created_at,
    {json_timestamp("t.updated_at")} AS updated_at,
    {json_timestamp("t.first_agent_reply_at")} AS first_agent_reply_at,
    {json_timestamp("t.resolved_at")} AS resolved_at,
    {json_timestamp("t.closed_at")} AS closed_at
) d))::text"""


# A ticket (alias ``t``) as the JSON text of ``TicketRead``, rendered by PostgreSQL for the hot read paths
# (GET ticket, lists): Python then forwards bytes instead of building and encoding a struct per ticket,
# which was about half of a list page's cost (bench/list_ceiling.py). Requester, assignee and group come
# from correlated subqueries rather than joins: list pages get a custom plan per request, and a
# five-way join took ~0.6 ms of planning per page, more than the page's execution.
DOCUMENT = _document(
    requester="(SELECT p FROM (SELECT c.id, c.name, c.email FROM customers c WHERE c.id = t.requester_id) p)",
    assignee="(SELECT p FROM (SELECT a.id, a.name, a.email FROM agents a WHERE a.id = t.assignee_id) p)",
    group="(SELECT p FROM (SELECT g.id, g.name FROM groups g WHERE g.id = t.group_id) p)",
)

# The same from the joined aliases ``c``, ``a`` and ``g`` of :data:`JOINS`, for the statement that creates
# the ticket and maybe its requester (a row the statement inserts is invisible to its own subqueries).
JOINED_DOCUMENT = _document(
    requester="(SELECT p FROM (SELECT t.requester_id AS id, c.name, c.email) p)",
    assignee="CASE WHEN t.assignee_id IS NOT NULL "
    "THEN (SELECT p FROM (SELECT t.assignee_id AS id, a.name, a.email) p) END",
    group="CASE WHEN t.group_id IS NOT NULL THEN (SELECT p FROM (SELECT t.group_id AS id, g.name) p) END",
)

GET_DOCUMENT = f"SELECT {DOCUMENT} AS doc, t.version FROM tickets t WHERE t.id = $1"


class Params:
    """Collects positional parameters for asyncpg and hands out their ``$n`` placeholders."""

    def __init__(self, *initial: Any) -> None:
        self.values: list[Any] = list(initial)

    def add(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def to_read(row: asyncpg.Record) -> TicketRead:
    assignee = None
    if row["assignee_id"] is not None:
        assignee = PersonSummary(
            id=row["assignee_id"], name=row["assignee_name"], email=row["assignee_email"]
        )
    group = None
    if row["group_id"] is not None:
        group = GroupSummary(id=row["group_id"], name=row["group_name"])
    return TicketRead(
        id=row["id"],
        subject=row["subject"],
        status=row["status"],
        priority=row["priority"],
        channel=row["channel"],
        requester=PersonSummary(
            id=row["requester_id"], name=row["requester_name"], email=row["requester_email"]
        ),
        assignee=assignee,
        group=group,
        tags=row["tags"],
        external_ref=row["external_ref"],
        follow_up_of=row["follow_up_of"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        first_agent_reply_at=row["first_agent_reply_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
    )


def summary(row: asyncpg.Record) -> dict[str, Any]:
    """The ticket as events carry it, so a webhook payload needs no second read."""
    return {
        "id": row["id"],
        "subject": row["subject"],
        "status": row["status"],
        "priority": row["priority"],
        "channel": row["channel"],
        "requester": {
            "id": str(row["requester_id"]),
            "name": row["requester_name"],
            "email": row["requester_email"],
        },
        "assignee_id": str(row["assignee_id"]) if row["assignee_id"] else None,
        "assignee": assignee(row),
        "group_id": str(row["group_id"]) if row["group_id"] else None,
        "tags": list(row["tags"]),
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


# :func:`summary` rendered by PostgreSQL, for writes that record their event in the same statement.
SUMMARY_JSONB = f"""jsonb_build_object(
    'id', t.id, 'subject', t.subject, 'status', t.status, 'priority', t.priority, 'channel', t.channel,
    'requester', jsonb_build_object('id', t.requester_id, 'name', c.name, 'email', c.email),
    'assignee_id', t.assignee_id,
    'assignee', CASE WHEN t.assignee_id IS NOT NULL
                     THEN jsonb_build_object('id', t.assignee_id, 'name', a.name, 'email', a.email) END,
    'group_id', t.group_id, 'tags', t.tags, 'version', t.version,
    'created_at', {json_timestamp("t.created_at")}, 'updated_at', {json_timestamp("t.updated_at")})"""


def assignee(row: asyncpg.Record) -> dict[str, Any] | None:
    if row["assignee_id"] is None:
        return None
    return {"id": str(row["assignee_id"]), "name": row["assignee_name"], "email": row["assignee_email"]}
