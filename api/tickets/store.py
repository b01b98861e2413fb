"""SQL for tickets on the raw asyncpg connection: one statement per read, joins instead of extra queries.

Ticket reads and writes are the hot paths (see bench/); the ORM's per-row overhead is not affordable
there, so rows are fetched with hand-written SQL and turned into wire structs directly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import msgspec

from api.sla.schemas import TicketSla
from api.sql import json_timestamp
from api.tickets.schemas import TicketRead

# Columns of a ticket with its requester, assignee and group; ``t`` is the tickets table or a CTE.
COLUMNS = """
t.id, t.subject, t.status, t.priority, t.channel, t.tags, t.external_ref, t.follow_up_of, t.version,
t.state_revision, t.created_at, t.updated_at, t.first_agent_reply_at, t.resolved_at, t.closed_at,
t.priority_rank,
t.requester_id, c.name AS requester_name, c.email AS requester_email,
t.assignee_id, a.name AS assignee_name, a.email AS assignee_email,
t.group_id, g.name AS group_name, t.sla::text AS sla, t.sla_due_at, t.sla_breached,
t.status_changed_at, t.last_customer_message_at, t.last_agent_reply_at, t.comment_count
"""
JOINS = """
JOIN customers c ON c.id = t.requester_id
LEFT JOIN agents a ON a.id = t.assignee_id
LEFT JOIN groups g ON g.id = t.group_id
"""
SELECT = f"SELECT {COLUMNS} FROM tickets t {JOINS}"

Row = Mapping[str, Any]
"""A ticket as :data:`COLUMNS` names its columns."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the ticket document: how PostgreSQL renders it (over the aliases of :data:`JOINS`) and
    how Python reads it from a row. ``rest``: in ``TicketRead``; ``summary``: in the ticket that events
    and webhooks carry (``catalog.TicketSummary``, derived from this list)."""

    name: str
    sql: str
    read: Callable[[Row], Any]
    rest: bool = True
    summary: bool = True
    type: Any = None
    """The field's type where ``TicketRead`` has no such field (summary-only fields)."""


def _column(name: str, *, rest: bool = True, summary: bool = True) -> Field:
    return Field(name, f"t.{name}", itemgetter(name), rest, summary)


def _timestamp(name: str, *, summary: bool = True) -> Field:
    return Field(name, json_timestamp(f"t.{name}"), itemgetter(name), summary=summary)


def _person(role: str, column: str, alias: str, *, nullable: bool) -> Field:
    sql = f"json_build_object('id', t.{column}, 'name', {alias}.name, 'email', {alias}.email)"
    if nullable:
        sql = f"CASE WHEN t.{column} IS NOT NULL THEN {sql} END"

    def read(row: Row) -> dict[str, Any] | None:
        if row[column] is None:
            return None
        return {"id": row[column], "name": row[f"{role}_name"], "email": row[f"{role}_email"]}

    return Field(role, sql, read)


def _group(row: Row) -> dict[str, Any] | None:
    return None if row["group_id"] is None else {"id": row["group_id"], "name": row["group_name"]}


def _sla(row: Row) -> TicketSla | None:
    return None if row["sla"] is None else msgspec.json.decode(row["sla"], type=TicketSla)


# The ticket document, field by field: every rendering of a ticket — the REST document in Python (GET,
# writes) and in SQL (list pages), and the summary events and webhooks carry, in Python (event hooks) and
# in SQL (ticket creation) — is derived from this one list, so adding a field is one edit here (plus its
# type in ``TicketRead``).
FIELDS: tuple[Field, ...] = (
    _column("id"),
    _column("subject"),
    _column("status"),
    _column("priority"),
    _column("channel"),
    _person("requester", "requester_id", "c", nullable=False),
    _ASSIGNEE := _person("assignee", "assignee_id", "a", nullable=True),
    Field(
        "group",
        "CASE WHEN t.group_id IS NOT NULL THEN json_build_object('id', t.group_id, 'name', g.name) END",
        _group,
    ),
    Field("group_id", "t.group_id", itemgetter("group_id"), rest=False, type=uuid.UUID | None),  # kept for
    # webhook consumers that read it before ``group`` existed
    _column("tags"),
    _column("external_ref", summary=False),
    _column("follow_up_of"),
    _column("version"),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    _timestamp("first_agent_reply_at", summary=False),
    _timestamp("resolved_at", summary=False),
    _timestamp("closed_at", summary=False),
    Field("sla", "t.sla", _sla, summary=False),
)
REST_FIELDS = tuple(f for f in FIELDS if f.rest)
SUMMARY_FIELDS = tuple(f for f in FIELDS if f.summary)


def _json_object(fields: tuple[Field, ...]) -> str:
    return "json_build_object(" + ", ".join(f"'{f.name}', {f.sql}" for f in fields) + ")"


# The REST document built by PostgreSQL, for list pages: Python forwards one text per page instead of
# decoding the columns and encoding a struct per ticket (~1.5x the pages/s, bench/RESULTS.md). Timestamps
# are rendered as msgspec writes them, so every value is the string GET gives (tests/tickets/test_lists.py).
JSON_OBJECT = _json_object(REST_FIELDS)
# The summary built by PostgreSQL, for ticket creation (its event is recorded in its INSERT statement).
SUMMARY_JSON = _json_object(SUMMARY_FIELDS)


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


def to_read(row: Row) -> TicketRead:
    """The REST document of a ticket row."""
    return msgspec.convert({f.name: f.read(row) for f in REST_FIELDS}, TicketRead)


def etag(row: Row) -> str:
    """The ticket's ``ETag``: its version (what ``If-Match`` compares) and, after changes nobody edits
    (an SLA moment, a re-evaluation), their count since — so ``If-None-Match`` never keeps a stale SLA
    state while ``If-Match`` still accepts the version a client read (``api/etags.py``)."""
    revision = row["state_revision"]
    return f'"{row["version"]}"' if not revision else f'"{row["version"]}.{revision}"'


def summary(row: Row) -> dict[str, Any]:
    """The ticket as events carry it, so a webhook payload needs no second read."""
    return {f.name: f.read(row) for f in SUMMARY_FIELDS}


def assignee(row: Row) -> dict[str, Any] | None:
    person: dict[str, Any] | None = _ASSIGNEE.read(row)
    return person
