"""Ticket use cases: create, read, change. Status rules are decided in lifecycle.py, nowhere else.

Every change locks the ticket row (``FOR UPDATE``), checks the client's expected version, and goes
through the seam's writer (``writer.py``): the row, the hooks' effects and its events in the request's
transaction, the new state returned by the same statement. A creation is one statement when no hook
needs the new ticket's id or requester (the common case), else three in a transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.context import Context
from api.db import raw_transaction, utcnow
from api.errors import FieldError, NotFound, PreconditionFailed, Unprocessable
from api.events import webhooks
from api.events.service import (
    INLINE_EVENT_PARAMS,
    inline_event_args,
    inline_event_ctes,
    inline_notify,
    inline_param,
    record_events_on,
)
from api.tickets import lifecycle, seam, store, writer
from api.tickets.schemas import TicketCreate, TicketRead, TicketUpdate
from api.tickets.writer import Write, apply, decide
from api.timers import service as timers

__all__ = ["Write", "apply", "create_ticket", "decide", "get_ticket", "insert_ticket", "lock_ticket"]

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


def _cast(sql_type: str) -> str:
    return "::text::jsonb" if sql_type == "jsonb" else f"::{sql_type}"


@cache
def _insert_sql(by_email: bool, columns: tuple[tuple[str, str], ...], explicit_id: bool) -> str:
    """Customer (when new), ticket with the hook-owned ``columns``, initial message, ``ticket.created``
    event and its webhook, and the timers the hooks declared: one statement, so a create needs no BEGIN
    and COMMIT round trips and no SQLAlchemy unit of work — the statement is its own transaction
    (bench/RESULTS.md: creates/s). It returns the ticket's columns (``store.COLUMNS``) and the new
    comment's id. Event data and webhook body are rendered here, in SQL, exactly as ``record_events``
    renders them in Python (tests/tickets/test_rendering.py). Parameters: the ticket's ten, the
    requester's one (by id) or two (by email), the inline event's, then the creation instant, the timers
    (three arrays), the hook columns and (``explicit_id``) the ticket's id."""
    first_event = 13 if by_email else 12
    n = first_event + len(INLINE_EVENT_PARAMS)
    created_at, kinds, keys, dues = (
        f"${n}::timestamptz",
        f"${n + 1}::text[]",
        f"${n + 2}::text[]",
        f"${n + 3}::timestamptz[]",
    )
    hook_params = [f"${i}{_cast(sql_type)}" for i, (_, sql_type) in enumerate(columns, n + 4)]
    id_column, id_value = ("id, ", f"${n + 4 + len(columns)}::bigint, ") if explicit_id else ("", "")
    hook_columns = "".join(f", {name}" for name, _ in columns)
    hook_values = "".join(f", {param}" for param in hook_params)
    data = webhooks.created_data_sql(inline_param(first_event, "actor_json"))
    body = webhooks.webhook_body_sql("'ticket.created'", inline_param(first_event, "occurred_at"), "d.data")
    return f"""
WITH {_REQUESTER_BY_EMAIL if by_email else _REQUESTER_BY_ID},
t AS (
    INSERT INTO tickets ({id_column}subject, status, priority, channel, requester_id, assignee_id, group_id,
                         tags, external_ref, follow_up_of, search, created_at, updated_at,
                         status_changed_at, last_customer_message_at, comment_count{hook_columns})
    SELECT {id_value}$1, $2, $3, $4, r.id, $5, $6, $7, $8, $9,
           setweight(to_tsvector('english', $1), 'A') || to_tsvector('english', $10),
           {created_at}, {created_at}, {created_at}, {created_at}, 1{hook_values}
    FROM r LIMIT 1
    RETURNING *
), m AS (
    INSERT INTO comments (ticket_id, author_type, author_customer_id, public, body, created_at)
    SELECT id, 'customer', requester_id, true, $10, created_at FROM t
    RETURNING id
), timers_set AS (
    INSERT INTO timers (ticket_id, kind, key, due_at)
    SELECT t.id, d.kind, d.key, d.due_at FROM t, unnest({kinds}, {keys}, {dues}) AS d(kind, key, due_at)
), created AS (
    SELECT {store.COLUMNS}, m.id AS comment_id,
           'ticket.created' AS event_type, t.id AS ticket_id, d.data::jsonb AS event_data,
           {body} AS webhook_body
    FROM t JOIN r c ON c.id = t.requester_id
    LEFT JOIN agents a ON a.id = t.assignee_id
    LEFT JOIN groups g ON g.id = t.group_id
    CROSS JOIN m
    CROSS JOIN LATERAL (SELECT {data} AS data) d
), {inline_event_ctes("created", first_event)}
SELECT {store.COLUMN_NAMES}, comment_id, {inline_notify(first_event)} AS notified FROM created
"""


# Who a ticket is from, and the id it will have, before it is inserted (when a hook must know them).
_IDENTIFY_BY_ID = """
SELECT id, name, email, nextval(pg_get_serial_sequence('tickets', 'id')) AS ticket_id
FROM customers WHERE id = $1
"""
_IDENTIFY_BY_EMAIL = """
WITH found AS (SELECT id, name, email FROM customers WHERE lower(email) = lower($1::text)),
ins AS (
    INSERT INTO customers (name, email) SELECT $2::text, $1::text WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT ((lower(email))) DO NOTHING
    RETURNING id, name, email
)
SELECT id, name, email, nextval(pg_get_serial_sequence('tickets', 'id')) AS ticket_id
FROM (SELECT * FROM found UNION ALL SELECT * FROM ins) r LIMIT 1
"""


def _requester_args(data: TicketCreate) -> tuple[object, ...]:
    if (data.requester_id is None) == (data.requester_email is None):
        raise Unprocessable(
            "Name the requester by requester_id or by requester_email (exactly one).",
            errors=[FieldError("body", "$.requester_id", "give requester_id or requester_email")],
        )
    if data.requester_id is not None:
        return (data.requester_id,)
    email = data.requester_email or ""
    return (email, data.requester_name or email.split("@", 1)[0])


def _new_ticket(
    config: seam.Config,
    data: TicketCreate,
    status: str,
    at: Any,
    names: dict[str, Any],
    follow_up_of: int | None,
) -> dict[str, Any]:
    """The ticket a create will insert, as the hooks see it (without its id, and without a requester named
    by email, unless a hook needs them: see :func:`insert_ticket`)."""
    return {
        "id": None,
        "subject": data.subject,
        "status": status,
        "priority": data.priority,
        "channel": data.channel,
        "tags": list(dict.fromkeys(data.tags)),
        "external_ref": data.external_ref,
        "follow_up_of": follow_up_of,
        "version": 1,
        "state_revision": 0,
        "created_at": at,
        "updated_at": at,
        "first_agent_reply_at": None,
        "resolved_at": None,
        "closed_at": None,
        "requester_id": data.requester_id,
        "requester_name": data.requester_name,
        "requester_email": data.requester_email,
        "assignee_id": data.assignee_id,
        "group_id": data.group_id,
        **config.hooks.defaults,
        **names,
        # The initial message is the customer's first comment (see _insert_sql); rule conditions read these.
        "status_changed_at": at,
        "last_customer_message_at": at,
        "last_agent_reply_at": None,
        "comment_count": 1,
    }


async def insert_ticket(
    raw: asyncpg.Connection,
    ctx: Context,
    config: seam.Config,
    data: TicketCreate,
    *,
    follow_up_of: int | None = None,
) -> store.Row:
    """Insert a ticket with its initial message, its ``ticket.created`` event and every effect of its
    hooks (columns, timers, events, follow-on changes); returns its row and the message's ``comment_id``.

    The hooks first see the ticket without its id (and without the requester's id when it is named by
    email). When they need neither (``Hook.needs_on_create``) and return nothing that needs the ticket
    (events beyond ``ticket.created``, follow-on changes), the write is one statement, atomic whether
    ``raw`` is in a transaction or not. Otherwise the requester is found (or created) and the id drawn
    first, the hooks run again over the complete ticket (they are pure), and the ticket, its events and
    its follow-on changes are written in a transaction."""
    requester = _requester_args(data)
    names = {"assignee_name": None, "assignee_email": None, "group_name": None}
    if data.assignee_id is not None or data.group_id is not None:
        names = await writer.refs(raw, data.assignee_id, data.group_id)
    status = lifecycle.OPEN if data.assignee_id is not None else lifecycle.NEW
    at = utcnow()
    by_email = data.requester_id is None
    needs = config.needs_on_create
    if "id" not in needs and not (by_email and "requester" in needs):
        after = _new_ticket(config, data, status, at, names, follow_up_of)
        outcome = config.hooks.run(_creation(ctx, config, after, at))
        if not outcome.needs_the_ticket():
            row: store.Row = await _insert(
                raw, ctx, config, data, requester, outcome, at, follow_up_of, ticket_id=None
            )
            if outcome.timers and timers.wakes_runners(outcome.timers, at):
                await timers.wake_runners(raw)
            return row
    async with _transaction(raw):
        ident = await _identify(raw, data, requester)
        after = _new_ticket(config, data, status, at, names, follow_up_of)
        after.update(
            id=ident["ticket_id"],
            requester_id=ident["id"],
            requester_name=ident["name"],
            requester_email=ident["email"],
        )
        outcome = config.hooks.run(_creation(ctx, config, after, at))
        row = await _insert(
            raw, ctx, config, data, (ident["id"],), outcome, at, follow_up_of, ident["ticket_id"]
        )
        await record_events_on(raw, [event for event in outcome.events if event.type != "ticket.created"])
        if outcome.timers and timers.wakes_runners(outcome.timers, at):
            await timers.wake_runners(raw)
        new: store.Row = row
        for follow_on in outcome.follow_ons:
            new = await writer.follow(raw, config, new, follow_on, at=at, depth=1)
    return row if new is row else {**new, "comment_id": row["comment_id"]}


def _creation(ctx: Context, config: seam.Config, after: dict[str, Any], at: Any) -> seam.TicketChange:
    return seam.TicketChange(cause="created", at=at, ctx=ctx, before=None, after=after, config=config)


@contextlib.asynccontextmanager
async def _transaction(raw: asyncpg.Connection) -> AsyncIterator[None]:
    if raw.is_in_transaction():
        yield
        return
    async with raw.transaction():
        yield


async def _identify(
    raw: asyncpg.Connection, data: TicketCreate, requester: tuple[object, ...]
) -> asyncpg.Record:
    """The requester (found, or created by email) and the id the new ticket will have."""
    sql = _IDENTIFY_BY_ID if data.requester_id is not None else _IDENTIFY_BY_EMAIL
    # By email, a customer created concurrently can be invisible to this statement's snapshot and yet
    # block its insert: then nothing is found, and the second attempt sees the committed customer.
    for _ in range(2):
        found = await raw.fetchrow(sql, *requester)
        if found is not None or data.requester_id is not None:
            break
    if found is None:
        raise writer.unknown_reference("requester_id")
    return found


async def _insert(
    raw: asyncpg.Connection,
    ctx: Context,
    config: seam.Config,
    data: TicketCreate,
    requester: tuple[object, ...],
    outcome: seam.Outcome,
    at: Any,
    follow_up_of: int | None,
    ticket_id: int | None,
) -> asyncpg.Record:
    columns = tuple(config.hooks.columns.items())
    by_email = len(requester) == 2
    sql = _insert_sql(by_email, columns, ticket_id is not None)
    args = (
        data.subject,
        outcome.after["status"],
        data.priority,
        data.channel,
        data.assignee_id,
        data.group_id,
        outcome.after["tags"],
        data.external_ref,
        follow_up_of,
        data.message,
        *requester,
        *inline_event_args(ctx, at),
        at,
        *timers.declared_args(outcome.timers),
        *(outcome.after[name] for name, _ in columns),
        *(() if ticket_id is None else (ticket_id,)),
    )
    # By email, a customer created concurrently can be invisible to this statement's snapshot and yet
    # block its insert: then nothing is inserted, and the second attempt sees the committed customer.
    for _ in range(2):
        row = await raw.fetchrow(sql, *args)
        if row is not None or not by_email:
            break
    if row is None:
        raise writer.unknown_reference("requester_id")
    return row


async def create_ticket(
    raw: asyncpg.Connection, ctx: Context, config: seam.Config, data: TicketCreate
) -> tuple[TicketRead, str]:
    """The new ticket's document and ``ETag``."""
    row = await insert_ticket(raw, ctx, config, data)
    return store.to_read(row), store.etag(row)


# Read ------------------------------------------------------------------------------------------------


async def get_ticket(pool: asyncpg.Pool, ticket_id: int) -> tuple[TicketRead, str]:
    """The ticket's document and ``ETag``."""
    row = await pool.fetchrow(store.GET, ticket_id)
    if row is None:
        raise NotFound(f"Ticket {ticket_id} does not exist.")
    return store.to_read(row), store.etag(row)


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
            headers={"ETag": store.etag(row)},
        )
    return row


# Change ----------------------------------------------------------------------------------------------


def _requested(data: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


async def update_ticket(
    tx: AsyncConnection,
    ctx: Context,
    config: seam.Config,
    ticket_id: int,
    data: TicketUpdate,
    expected_version: int | None,
) -> tuple[TicketRead, str]:
    """The changed ticket's document and ``ETag``."""
    raw = await raw_transaction(tx)
    row = await lock_ticket(raw, ticket_id, expected_version)
    new = await apply(tx, raw, ctx, config, row, decide(row, ctx, _requested(data)))
    return store.to_read(new), store.etag(new)
