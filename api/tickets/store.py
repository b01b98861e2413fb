"""SQL for tickets on the raw asyncpg connection: one statement per read, joins instead of extra queries.

Ticket reads and writes are the hot paths (see bench/); the ORM's per-row overhead is not affordable
there, so rows are fetched with hand-written SQL and turned into wire structs directly.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from api.sla.schemas import TicketSla
from api.sql import json_timestamp
from api.tickets.schemas import GroupSummary, PersonSummary, TicketRead

# Columns of a ticket with its requester, assignee and group; ``t`` is the tickets table or a CTE.
COLUMNS = """
t.id, t.subject, t.status, t.priority, t.channel, t.tags, t.external_ref, t.follow_up_of, t.version,
t.created_at, t.updated_at, t.first_agent_reply_at, t.resolved_at, t.closed_at, t.priority_rank,
t.requester_id, c.name AS requester_name, c.email AS requester_email,
t.assignee_id, a.name AS assignee_name, a.email AS assignee_email,
t.group_id, g.name AS group_name, t.sla::text AS sla, t.sla_due_at, t.sla_breached
"""
JOINS = """
JOIN customers c ON c.id = t.requester_id
LEFT JOIN agents a ON a.id = t.assignee_id
LEFT JOIN groups g ON g.id = t.group_id
"""
SELECT = f"SELECT {COLUMNS} FROM tickets t {JOINS}"

# A ticket with its requester, assignee and group (aliases of :data:`JOINS`) as the JSON of ``TicketRead``,
# built by PostgreSQL for list pages: Python then forwards one text per page instead of decoding 23 columns
# and encoding a struct per ticket (~1.5x the pages/s, bench/RESULTS.md). Timestamps are rendered as
# msgspec writes them, so every field's value is the same string as in ``GET /v1/tickets/{id}``
# (tests/tickets/test_lists.py); only the insignificant whitespace differs.
JSON_OBJECT = f"""json_build_object(
    'id', t.id, 'subject', t.subject, 'status', t.status, 'priority', t.priority, 'channel', t.channel,
    'requester', json_build_object('id', t.requester_id, 'name', c.name, 'email', c.email),
    'assignee', CASE WHEN t.assignee_id IS NOT NULL
                     THEN json_build_object('id', t.assignee_id, 'name', a.name, 'email', a.email) END,
    'group', CASE WHEN t.group_id IS NOT NULL THEN json_build_object('id', t.group_id, 'name', g.name) END,
    'tags', t.tags, 'external_ref', t.external_ref, 'follow_up_of', t.follow_up_of, 'version', t.version,
    'created_at', {json_timestamp("t.created_at")},
    'updated_at', {json_timestamp("t.updated_at")},
    'first_agent_reply_at', {json_timestamp("t.first_agent_reply_at")},
    'resolved_at', {json_timestamp("t.resolved_at")},
    'closed_at', {json_timestamp("t.closed_at")},
    'sla', t.sla)"""

# The names COLUMNS gives its columns, to select them again from a CTE built with COLUMNS. (``sla`` is
# read as text: connections of the SQLAlchemy pool decode jsonb, those of the statement pool do not.)
COLUMN_NAMES = ", ".join(column.split()[-1].split(".")[-1] for column in COLUMNS.split(","))

GET = f"{SELECT} WHERE t.id = $1"
GET_FOR_UPDATE = f"{GET} FOR UPDATE OF t"


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
        sla=None if row["sla"] is None else msgspec.json.decode(row["sla"], type=TicketSla),
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
