"""Ticket use cases: create, read, change. Status rules are decided in lifecycle.py, nowhere else.

Every change locks the ticket row (``FOR UPDATE``), checks the client's expected version, writes the
row and its events in the request's transaction, and returns the new state in the same statement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.context import Actor, Context
from api.db import raw_transaction, utcnow
from api.errors import FieldError, NotFound, PreconditionFailed, Unprocessable
from api.events import webhooks
from api.events.schemas import Change
from api.events.service import (
    NewEvent,
    inline_event_args,
    inline_event_ctes,
    inline_notify,
    inline_param,
    record_events,
)
from api.settings import Settings
from api.tickets import lifecycle, scheduling, store
from api.tickets.schemas import TicketCreate, TicketRead, TicketUpdate


@dataclass(frozen=True, slots=True)
class Policy:
    """The configurable parts of ticket behaviour."""

    auto_close_after: dt.timedelta
    scheduler_poll: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(dt.timedelta(seconds=settings.auto_close_after_seconds), settings.scheduler_poll_seconds)


# Fields whose change is a `ticket.updated` event (assignee and status have their own events).
UPDATED_FIELDS = ("subject", "priority", "group_id", "tags", "external_ref")


def _unknown_reference(field: str) -> Unprocessable:
    what = {"requester_id": "customer", "assignee_id": "agent", "group_id": "group"}[field]
    return Unprocessable(
        f"{field} does not name an existing {what}.",
        errors=[FieldError("body", f"$.{field}", f"no {what} with this id")],
    )


def _inactive(field: str) -> Unprocessable:
    return Unprocessable(
        f"{field} names a deactivated record.", errors=[FieldError("body", f"$.{field}", "deactivated")]
    )


async def _check_refs(
    raw: asyncpg.Connection, assignee_id: uuid.UUID | None, group_id: uuid.UUID | None
) -> None:
    """Assignees and groups must exist and be active."""
    row = await raw.fetchrow(
        "SELECT (SELECT active FROM agents WHERE id = $1) AS agent, "
        "(SELECT active FROM groups WHERE id = $2) AS grp",
        assignee_id,
        group_id,
    )
    for field, value, active in (
        ("assignee_id", assignee_id, row["agent"]),
        ("group_id", group_id, row["grp"]),
    ):
        if value is not None and active is None:
            raise _unknown_reference(field)
        if value is not None and not active:
            raise _inactive(field)


# Create ----------------------------------------------------------------------------------------------

# The requester, as a CTE ``r (id, name, email)``: found by id, or by email and created when new. One
# statement for customer and ticket, because ticket creation is a hot path (see bench/).
_REQUESTER_BY_ID = "r AS (SELECT id, name, email FROM customers WHERE id = $11::uuid)"
_REQUESTER_BY_EMAIL = """
found AS (SELECT id, name, email FROM customers WHERE lower(email) = lower($11::text)),
ins AS (
    INSERT INTO customers (name, email) SELECT $12::text, $11::text WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT ((lower(email))) DO NOTHING
    RETURNING id, name, email
),
r AS (SELECT * FROM found UNION ALL SELECT * FROM ins)
"""


def _insert_sql(requester: str, first_event_param: int) -> str:
    """Customer (when new), ticket, initial message, ``ticket.created`` event and its webhook: one
    statement, so a create needs no BEGIN and COMMIT round trips and no SQLAlchemy unit of work — the
    statement is its own transaction (bench/RESULTS.md: creates/s). It returns the ticket's columns
    (``store.COLUMNS``) and the new comment's id. Event data and webhook body are rendered here, in SQL,
    exactly as ``record_events`` renders them in Python (tests/tickets/test_rendering.py)."""
    body = webhooks.ticket_event_body_sql(
        "'ticket.created'",
        inline_param(first_event_param, "occurred_at"),
        inline_param(first_event_param, "actor_json"),
    )
    return f"""
WITH {requester},
t AS (
    INSERT INTO tickets (subject, status, priority, channel, requester_id, assignee_id, group_id, tags,
                         external_ref, follow_up_of, search)
    SELECT $1, $2, $3, $4, r.id, $5, $6, $7, $8, $9,
           setweight(to_tsvector('english', $1), 'A') || to_tsvector('english', $10)
    FROM r LIMIT 1
    RETURNING *
), m AS (
    INSERT INTO comments (ticket_id, author_type, author_customer_id, public, body)
    SELECT id, 'customer', requester_id, true, $10 FROM t
    RETURNING id
), created AS (
    SELECT {store.COLUMNS}, m.id AS comment_id,
           'ticket.created' AS event_type, t.id AS ticket_id,
           jsonb_build_object('ticket', {store.SUMMARY_JSONB}, 'comment_id', m.id,
                              'follow_up_of', t.follow_up_of) AS event_data,
           {body} AS webhook_body
    FROM t JOIN r c ON c.id = t.requester_id
    LEFT JOIN agents a ON a.id = t.assignee_id
    LEFT JOIN groups g ON g.id = t.group_id
    CROSS JOIN m
), {inline_event_ctes("created", first_event_param)}
SELECT {store.COLUMN_NAMES}, comment_id, {inline_notify(first_event_param)} AS notified FROM created
"""


# Event parameters follow the ticket's ten and the requester's one (by id) or two (by email).
_INSERT_BY_ID = _insert_sql(_REQUESTER_BY_ID, 12)
_INSERT_BY_EMAIL = _insert_sql(_REQUESTER_BY_EMAIL, 13)


def _requester_args(data: TicketCreate) -> tuple[str, tuple[object, ...]]:
    if (data.requester_id is None) == (data.requester_email is None):
        raise Unprocessable(
            "Name the requester by requester_id or by requester_email (exactly one).",
            errors=[FieldError("body", "$.requester_id", "give requester_id or requester_email")],
        )
    if data.requester_id is not None:
        return _INSERT_BY_ID, (data.requester_id,)
    email = data.requester_email or ""
    return _INSERT_BY_EMAIL, (email, data.requester_name or email.split("@", 1)[0])


async def insert_ticket(
    raw: asyncpg.Connection, ctx: Context, data: TicketCreate, *, follow_up_of: int | None = None
) -> asyncpg.Record:
    """Insert a ticket with its initial message and its ``ticket.created`` event.

    ``raw`` may be in a transaction (an idempotency key, a follow-up ticket) or in autocommit: the write
    is one statement, so it is atomic either way."""
    sql, requester = _requester_args(data)
    if data.assignee_id is not None or data.group_id is not None:
        await _check_refs(raw, data.assignee_id, data.group_id)
    status = lifecycle.OPEN if data.assignee_id is not None else lifecycle.NEW
    args = (
        data.subject,
        status,
        data.priority,
        data.channel,
        data.assignee_id,
        data.group_id,
        list(dict.fromkeys(data.tags)),
        data.external_ref,
        follow_up_of,
        data.message,
        *requester,
        *inline_event_args(ctx, utcnow()),
    )
    # By email, a customer created concurrently can be invisible to this statement's snapshot and yet
    # block its insert: then nothing is inserted, and the second attempt sees the committed customer.
    for _ in range(2):
        row = await raw.fetchrow(sql, *args)
        if row is not None or data.requester_id is not None:
            break
    if row is None:
        raise _unknown_reference("requester_id")
    assert row is not None
    return row


async def create_ticket(raw: asyncpg.Connection, ctx: Context, data: TicketCreate) -> TicketRead:
    return store.to_read(await insert_ticket(raw, ctx, data))


# Read ------------------------------------------------------------------------------------------------


async def get_ticket(pool: asyncpg.Pool, ticket_id: int) -> TicketRead:
    row = await pool.fetchrow(store.GET, ticket_id)
    if row is None:
        raise NotFound(f"Ticket {ticket_id} does not exist.")
    return store.to_read(row)


async def lock_ticket(
    raw: asyncpg.Connection, ticket_id: int, expected_version: int | None
) -> asyncpg.Record:
    row = await raw.fetchrow(store.GET_FOR_UPDATE, ticket_id)
    if row is None:
        raise NotFound(f"Ticket {ticket_id} does not exist.")
    if expected_version is not None and row["version"] != expected_version:
        raise PreconditionFailed(
            f"Ticket {ticket_id} changed since you read it (version {row['version']}, you sent "
            f"{expected_version}); fetch it again and reapply your change.",
            headers={"ETag": f'"{row["version"]}"'},
        )
    return row


# Change ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Write:
    """A decided change of one ticket: column values, the resulting status, and extra SQL assignments."""

    fields: dict[str, Any]
    status: str
    extra_sql: list[str]
    params: store.Params


def decide(row: asyncpg.Record, ctx: Context, changes: dict[str, Any]) -> Write:
    """Apply the lifecycle rules to requested changes of a locked ticket."""
    if "tags" in changes:
        changes = {**changes, "tags": list(dict.fromkeys(changes["tags"]))}
    fields = {k: v for k, v in changes.items() if k != "status" and row[k] != v}
    outcome = lifecycle.apply_update(
        lifecycle.State(row["status"], row["assignee_id"]),
        status=changes.get("status"),
        assignee_id=changes.get("assignee_id", lifecycle.UNCHANGED),
        other_fields=any(k not in ("tags", "assignee_id") for k in fields),
        acting_agent=ctx.agent_id,
    )
    fields.pop("assignee_id", None)
    if outcome.assignee_id != row["assignee_id"]:
        fields["assignee_id"] = outcome.assignee_id
    return Write(fields=fields, status=outcome.status, extra_sql=[], params=store.Params(row["id"]))


def _assignments(row: asyncpg.Record, write: Write) -> list[str]:
    p = write.params
    sets = [f"{name} = {p.add(value)}" for name, value in write.fields.items()]
    if "subject" in write.fields:
        sets.append(
            f"search = setweight(to_tsvector('english', {p.add(write.fields['subject'], '::text')}), 'A') || "
            "coalesce((SELECT to_tsvector('english', string_agg(body, ' ')) FROM comments "
            "WHERE ticket_id = $1), ''::tsvector)"
        )
    if write.status != row["status"]:
        sets.append(f"status = {p.add(write.status)}")
        if write.status == lifecycle.RESOLVED:
            sets.append("resolved_at = now()")
        elif lifecycle.is_reopen(row["status"], write.status):
            sets.append("resolved_at = NULL")
        elif write.status == lifecycle.CLOSED:
            sets.append("closed_at = now()")
    return sets + write.extra_sql


async def apply(
    tx: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: Context,
    policy: Policy,
    row: asyncpg.Record,
    write: Write,
) -> asyncpg.Record:
    """Write a decided change, its events and its scheduled work; returns the new row."""
    if "assignee_id" in write.fields or "group_id" in write.fields:
        await _check_refs(raw, write.fields.get("assignee_id"), write.fields.get("group_id"))
    sets = _assignments(row, write)
    if not sets:
        return row
    new = await raw.fetchrow(
        f"WITH t AS (UPDATE tickets SET {', '.join(sets)}, version = version + 1, updated_at = now() "
        f"WHERE id = $1 RETURNING *) SELECT {store.COLUMNS} FROM t {store.JOINS}",
        *write.params.values,
    )
    assert new is not None
    await record_events(tx, await _events(raw, ctx, row, new, write))
    if write.status != row["status"]:
        if write.status == lifecycle.RESOLVED:
            delay = policy.auto_close_after
            await scheduling.schedule(raw, scheduling.AUTO_CLOSE, row["id"], delay, policy.scheduler_poll)
        elif row["status"] == lifecycle.RESOLVED:
            await scheduling.cancel(raw, scheduling.AUTO_CLOSE, row["id"])
    return new


def _wire(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def _events(
    raw: asyncpg.Connection, ctx: Context, old: asyncpg.Record, new: asyncpg.Record, write: Write
) -> list[NewEvent]:
    ticket_id = new["id"]
    summary = store.summary(new)
    events = []
    updated = [Change(f, _wire(old[f]), _wire(new[f])) for f in UPDATED_FIELDS if f in write.fields]
    if updated:
        events.append(
            NewEvent(
                type="ticket.updated", ticket_id=ticket_id, ctx=ctx, changes=updated, data={"ticket": summary}
            )
        )
    if "assignee_id" in write.fields:
        change = Change("assignee_id", _wire(old["assignee_id"]), _wire(new["assignee_id"]))
        events.append(
            NewEvent(
                type="ticket.assigned",
                ticket_id=ticket_id,
                ctx=ctx,
                changes=[change],
                data={"ticket": summary, "previous_assignee": store.assignee(old)},
            )
        )
    if new["status"] != old["status"]:
        changes = [Change("status", old["status"], new["status"])]
        events.append(
            NewEvent(
                type="ticket.status_changed",
                ticket_id=ticket_id,
                ctx=ctx,
                changes=changes,
                data={"ticket": summary},
            )
        )
        specific = _status_event(old["status"], new["status"])
        if specific is not None:
            data: dict[str, Any] = {"ticket": summary, "previous_status": old["status"]}
            if specific == "ticket.resolved":
                data.update(await _resolution(raw, ctx, new))
            events.append(NewEvent(type=specific, ticket_id=ticket_id, ctx=ctx, changes=changes, data=data))
    return events


def _status_event(previous: str, current: str) -> str | None:
    if current == lifecycle.RESOLVED:
        return "ticket.resolved"
    if current == lifecycle.CLOSED:
        return "ticket.closed"
    if lifecycle.is_reopen(previous, current):
        return "ticket.reopened"
    return None


async def _resolution(raw: asyncpg.Connection, ctx: Context, new: asyncpg.Record) -> dict[str, Any]:
    """What a thank-you webhook needs: who resolved it, when, and how long it took."""
    agent_id = ctx.agent_id or new["assignee_id"]
    agent = None
    if agent_id == new["assignee_id"]:
        agent = {"id": str(agent_id), "name": new["assignee_name"], "email": new["assignee_email"]}
    elif agent_id is not None:
        found = await raw.fetchrow("SELECT name, email FROM agents WHERE id = $1", agent_id)
        agent = {"id": str(agent_id), "name": found["name"], "email": found["email"]} if found else None
    resolved_at: dt.datetime = new["resolved_at"]
    return {
        "resolving_agent": agent,
        "resolved_at": resolved_at.isoformat(),
        "time_to_resolution_seconds": (resolved_at - new["created_at"]).total_seconds(),
    }


def _requested(data: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


async def update_ticket(
    tx: AsyncConnection,
    ctx: Context,
    policy: Policy,
    ticket_id: int,
    data: TicketUpdate,
    expected_version: int | None,
) -> TicketRead:
    raw = await raw_transaction(tx)
    row = await lock_ticket(raw, ticket_id, expected_version)
    write = decide(row, ctx, _requested(data))
    return store.to_read(await apply(tx, raw, ctx, policy, row, write))


async def auto_close(tx: AsyncConnection, ticket_id: int) -> None:
    """Scheduled-action handler: close a ticket still resolved when its delay has passed."""
    raw = await raw_transaction(tx)
    row = await raw.fetchrow(store.GET_FOR_UPDATE, ticket_id)
    if row is None or row["status"] != lifecycle.RESOLVED:
        return
    system = Context(actor=Actor("system", None, "auto-close"), request_id=None, agent_id=None)
    write = decide(row, system, {"status": lifecycle.CLOSED})
    policy = Policy(dt.timedelta(0), 0.0)  # closing schedules nothing
    await apply(tx, raw, system, policy, row, write)
