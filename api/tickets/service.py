"""Ticket use cases: create, read, change. Status rules are decided in lifecycle.py, nowhere else.

Every change locks the ticket row (``FOR UPDATE``), checks the client's expected version, writes the
row and its events in the request's transaction, and returns the new state in the same statement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.context import Actor, Context
from api.db import raw_transaction, utcnow
from api.errors import FieldError, NotFound, PreconditionFailed, Unprocessable
from api.events import webhooks
from api.events.service import (
    INLINE_EVENT_PARAMS,
    inline_event_args,
    inline_event_ctes,
    inline_notify,
    inline_param,
    record_events,
)
from api.settings import Settings
from api.sla.hook import SLA, SlaConfig
from api.tickets import hooks, lifecycle, seam, store
from api.tickets.schemas import TicketCreate, TicketRead, TicketUpdate
from api.timers import service as timers
from api.timers.service import FiredTimer


def config_from(settings: Settings, sla: SlaConfig | None = None) -> seam.Config:
    """The hooks' configuration: settings, and the SLA policies (from the per-process cache)."""
    return seam.Config(auto_close_after=dt.timedelta(seconds=settings.auto_close_after_seconds), sla=sla)


# The hooks every ticket change runs, in order: each sees the columns set by those before it (the
# events hook reads the SLA state the SLA hook wrote, for ``ticket.resolved``'s ``sla_outcome``).
HOOKS: tuple[seam.Hook, ...] = (SLA, hooks.AUTO_CLOSE_TIMER, hooks.TICKET_EVENTS)

# Columns a change (or a hook) may set; ``version`` and ``updated_at`` are set on every write.
WRITABLE = (
    "subject",
    "status",
    "priority",
    "assignee_id",
    "group_id",
    "tags",
    "external_ref",
    "first_agent_reply_at",
    "resolved_at",
    "closed_at",
    "sla",
    "sla_due_at",
    "sla_breached",
    # What rule conditions read (api/conditions): set below in _after (a status change) and by
    # comments.add_comment (a comment), like resolved_at and first_agent_reply_at.
    "status_changed_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "comment_count",
)


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


_REFS = """
SELECT (SELECT active FROM agents WHERE id = $1) AS agent_active, a.name AS assignee_name,
       a.email AS assignee_email, (SELECT active FROM groups WHERE id = $2) AS group_active,
       g.name AS group_name
FROM (SELECT 1) one LEFT JOIN agents a ON a.id = $1 LEFT JOIN groups g ON g.id = $2
"""


async def _refs(
    raw: asyncpg.Connection, assignee_id: uuid.UUID | None, group_id: uuid.UUID | None
) -> dict[str, Any]:
    """Check that an assignee and a group exist and are active; their names, as ``store.COLUMNS`` has them."""
    row = await raw.fetchrow(_REFS, assignee_id, group_id)
    for column, value, active in (
        ("assignee_id", assignee_id, row["agent_active"]),
        ("group_id", group_id, row["group_active"]),
    ):
        if value is not None and active is None:
            raise _unknown_reference(column)
        if value is not None and not active:
            raise _inactive(column)
    return {k: row[k] for k in ("assignee_name", "assignee_email", "group_name")}


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

# Parameters after the inline event's (see api.events.service.inline_event_args), with their SQL types.
_CREATE_PARAMS = {
    "created_at": "timestamptz",
    "timer_kinds": "text[]",
    "timer_keys": "text[]",
    "timer_dues": "timestamptz[]",
    "sla": "text",
    "sla_due_at": "timestamptz",
    "sla_breached": "boolean",
}


def _create_param(first: int, name: str) -> str:
    return f"${first + len(INLINE_EVENT_PARAMS) + list(_CREATE_PARAMS).index(name)}::{_CREATE_PARAMS[name]}"


def _insert_sql(requester: str, first_event_param: int) -> str:
    """Customer (when new), ticket, initial message, ``ticket.created`` event and its webhook, and the
    timers the hooks declared: one statement, so a create needs no BEGIN and COMMIT round trips and no
    SQLAlchemy unit of work — the statement is its own transaction (bench/RESULTS.md: creates/s). It
    returns the ticket's columns (``store.COLUMNS``) and the new comment's id. Event data and webhook
    body are rendered here, in SQL, exactly as ``record_events`` renders them in Python
    (tests/tickets/test_rendering.py)."""
    data = webhooks.created_data_sql(inline_param(first_event_param, "actor_json"))
    body = webhooks.webhook_body_sql(
        "'ticket.created'", inline_param(first_event_param, "occurred_at"), "d.data"
    )

    def param(name: str) -> str:
        return _create_param(first_event_param, name)

    return f"""
WITH {requester},
t AS (
    INSERT INTO tickets (subject, status, priority, channel, requester_id, assignee_id, group_id, tags,
                         external_ref, follow_up_of, search, created_at, updated_at, sla, sla_due_at,
                         sla_breached, status_changed_at, last_customer_message_at, comment_count)
    SELECT $1, $2, $3, $4, r.id, $5, $6, $7, $8, $9,
           setweight(to_tsvector('english', $1), 'A') || to_tsvector('english', $10),
           {param("created_at")}, {param("created_at")}, {param("sla")}::jsonb, {param("sla_due_at")},
           {param("sla_breached")}, {param("created_at")}, {param("created_at")}, 1
    FROM r LIMIT 1
    RETURNING *
), m AS (
    INSERT INTO comments (ticket_id, author_type, author_customer_id, public, body, created_at)
    SELECT id, 'customer', requester_id, true, $10, created_at FROM t
    RETURNING id
), timers_set AS (
    INSERT INTO timers (ticket_id, kind, key, due_at)
    SELECT t.id, d.kind, d.key, d.due_at
    FROM t, unnest({param("timer_kinds")}, {param("timer_keys")}, {param("timer_dues")})
         AS d(kind, key, due_at)
), created AS (
    SELECT {store.COLUMNS}, m.id AS comment_id,
           'ticket.created' AS event_type, t.id AS ticket_id, d.data::jsonb AS event_data,
           {body} AS webhook_body
    FROM t JOIN r c ON c.id = t.requester_id
    LEFT JOIN agents a ON a.id = t.assignee_id
    LEFT JOIN groups g ON g.id = t.group_id
    CROSS JOIN m
    CROSS JOIN LATERAL (SELECT {data} AS data) d
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


def _new_ticket(data: TicketCreate, status: str, at: dt.datetime, refs: dict[str, Any]) -> dict[str, Any]:
    """The ticket a create will insert, as the hooks see it (its id and requester's name are not known
    before the statement runs; no hook needs them)."""
    return {
        "id": None,
        "subject": data.subject,
        "status": status,
        "priority": data.priority,
        "channel": data.channel,
        "tags": list(dict.fromkeys(data.tags)),
        "external_ref": data.external_ref,
        "version": 1,
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
        "sla": None,
        "sla_due_at": None,
        "sla_breached": False,
        # The initial message is the customer's first comment (see _insert_sql).
        "status_changed_at": at,
        "last_customer_message_at": at,
        "last_agent_reply_at": None,
        "comment_count": 1,
        **refs,
    }


async def insert_ticket(
    raw: asyncpg.Connection,
    ctx: Context,
    config: seam.Config,
    data: TicketCreate,
    *,
    follow_up_of: int | None = None,
) -> asyncpg.Record:
    """Insert a ticket with its initial message, its ``ticket.created`` event and its hooks' effects.

    ``raw`` may be in a transaction (an idempotency key, a follow-up ticket) or in autocommit: the write
    is one statement, so it is atomic either way."""
    sql, requester = _requester_args(data)
    refs = {"assignee_name": None, "assignee_email": None, "group_name": None}
    if data.assignee_id is not None or data.group_id is not None:
        refs = await _refs(raw, data.assignee_id, data.group_id)
    status = lifecycle.OPEN if data.assignee_id is not None else lifecycle.NEW
    at = utcnow()
    after = _new_ticket(data, status, at, refs)
    change = seam.TicketChange(cause="created", at=at, ctx=ctx, before=None, after=after, config=config)
    outcome = seam.run_hooks(change, HOOKS)
    if [event.type for event in outcome.events] != ["ticket.created"]:
        raise NotImplementedError("ticket creation records exactly its ticket.created event")
    kinds, keys, dues = timers.declared_args(outcome.timers)
    args = (
        data.subject,
        status,
        data.priority,
        data.channel,
        data.assignee_id,
        data.group_id,
        after["tags"],
        data.external_ref,
        follow_up_of,
        data.message,
        *requester,
        *inline_event_args(ctx, at),
        at,
        kinds,
        keys,
        dues,
        outcome.after["sla"],
        outcome.after["sla_due_at"],
        outcome.after["sla_breached"],
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
    if outcome.timers and timers.wakes_runners(outcome.timers, at):
        await timers.wake_runners(raw)
    return row


async def create_ticket(
    raw: asyncpg.Connection, ctx: Context, config: seam.Config, data: TicketCreate
) -> TicketRead:
    return store.to_read(await insert_ticket(raw, ctx, config, data))


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
    """A decided change of one ticket: column values, the resulting status, and extra SQL assignments
    (derived data such as the search vector, which no hook reads)."""

    fields: dict[str, Any]
    status: str
    extra_sql: list[str] = field(default_factory=list)
    params: store.Params = field(default_factory=store.Params)

    def touches(self, row: asyncpg.Record) -> bool:
        """Whether this is an update of the ticket (``updated_at``), as opposed to a change only hooks
        make (an SLA moment, a re-evaluation): those change the version, not the update time."""
        return bool(self.fields or self.extra_sql) or self.status != row["status"]


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
    return Write(fields=fields, status=outcome.status, params=store.Params(row["id"]))


async def _after(
    raw: asyncpg.Connection, row: asyncpg.Record, write: Write, at: dt.datetime
) -> dict[str, Any]:
    """The ticket as the decided change leaves it, before hooks add their columns."""
    after = dict(row)
    after.update(write.fields)
    if write.status != row["status"]:
        after["status"] = write.status
        after["status_changed_at"] = at  # rules' "since status changed" (api/conditions)
        if write.status == lifecycle.RESOLVED:
            after["resolved_at"] = at
        elif lifecycle.is_reopen(row["status"], write.status):
            after["resolved_at"] = None
        elif write.status == lifecycle.CLOSED:
            after["closed_at"] = at
    if "assignee_id" in write.fields or "group_id" in write.fields:
        after.update(await _refs(raw, after["assignee_id"], after["group_id"]))
    after["version"] = row["version"] + 1
    if write.touches(row):
        after["updated_at"] = at
    return after


async def _resolver(raw: asyncpg.Connection, ctx: Context, after: dict[str, Any]) -> dict[str, Any] | None:
    """The agent resolving the ticket: the acting agent, else the assignee."""
    agent_id = ctx.agent_id or after["assignee_id"]
    if agent_id is None:
        return None
    if agent_id == after["assignee_id"]:
        return {"id": agent_id, "name": after["assignee_name"], "email": after["assignee_email"]}
    found = await raw.fetchrow("SELECT name, email FROM agents WHERE id = $1", agent_id)
    return None if found is None else {"id": agent_id, "name": found["name"], "email": found["email"]}


async def apply(
    tx: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: Context,
    config: seam.Config,
    row: asyncpg.Record,
    write: Write,
    *,
    cause: seam.Cause = "updated",
    at: dt.datetime | None = None,
    comment: seam.CommentFacts | None = None,
    timer: FiredTimer | None = None,
) -> asyncpg.Record:
    """Describe a decided change, run the hooks, and write the change with every effect; returns the new
    row (the old one when nothing changes)."""
    at = at or utcnow()
    after = await _after(raw, row, write, at)
    resolver = None
    if after["status"] == lifecycle.RESOLVED and row["status"] != lifecycle.RESOLVED:
        resolver = await _resolver(raw, ctx, after)
    change = seam.TicketChange(
        cause=cause,
        at=at,
        ctx=ctx,
        before=row,
        after=after,
        config=config,
        comment=comment,
        timer=timer,
        resolver=resolver,
    )
    outcome = seam.run_hooks(change, HOOKS)
    columns = {c: outcome.after[c] for c in WRITABLE if outcome.after[c] != row[c]}
    if not columns and not write.extra_sql and not outcome.events:
        return row
    new = await _write(raw, row, write, columns, outcome, at)
    await record_events(tx, outcome.events)
    if outcome.timers and timers.wakes_runners(outcome.timers, at):
        await timers.wake_runners(raw)
    return new


async def _write(
    raw: asyncpg.Connection,
    row: asyncpg.Record,
    write: Write,
    columns: dict[str, Any],
    outcome: seam.Outcome,
    at: dt.datetime,
) -> asyncpg.Record:
    """One statement: the ticket row, and its live timers of the hooks' kinds made what they declared."""
    p = write.params
    if not p.values:
        p.add(row["id"])
    # The SLA document is text (see store.COLUMNS), whatever codecs the connection has for jsonb.
    sets = [
        f"{name} = {p.add(value, '::text::jsonb' if name == 'sla' else '')}"
        for name, value in columns.items()
    ]
    if "subject" in columns:
        sets.append(
            f"search = setweight(to_tsvector('english', {p.add(columns['subject'], '::text')}), 'A') || "
            "coalesce((SELECT to_tsvector('english', string_agg(body, ' ')) FROM comments "
            "WHERE ticket_id = $1), ''::tsvector)"
        )
    sets += write.extra_sql
    sets.append(f"version = {p.add(row['version'] + 1)}")
    if write.touches(row):
        sets.append(f"updated_at = {p.add(at)}")
    sync = timers.sync_ctes(
        *(p.add(arg) for arg in timers.sync_args(outcome.owned_timer_kinds, {row["id"]: outcome.timers}))
    )
    new = await raw.fetchrow(
        f"WITH t AS (UPDATE tickets SET {', '.join(sets)} WHERE id = $1 RETURNING *), {sync} "
        f"SELECT {store.COLUMNS} FROM t {store.JOINS}",
        *p.values,
    )
    assert new is not None
    return new


# Hook-only changes, many at once --------------------------------------------------------------------

# A change nobody requested (a re-evaluation after a policy or calendar edit) sets only the columns the
# SLA hook owns. Many such changes are written by this one statement, with their timers, and their
# events by one more: a pass over 100,000 tickets is two statements per batch, not two per ticket.
_HOOK_COLUMNS = frozenset({"sla", "sla_due_at", "sla_breached"})
_WRITE_HOOK_CHANGES = f"""
WITH changed AS (
    UPDATE tickets t
    SET sla = c.sla::jsonb, sla_due_at = c.sla_due_at, sla_breached = c.sla_breached, version = t.version + 1
    FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::boolean[])
         AS c(id, sla, sla_due_at, sla_breached)
    WHERE t.id = c.id
    RETURNING t.id
), {timers.sync_ctes("$5", "$6", "$7", "$8", "$9", "$10")}
SELECT count(*) FROM changed
"""


async def apply_hooks(
    tx: AsyncConnection,
    raw: asyncpg.Connection,
    ctx: Context,
    config: seam.Config,
    rows: list[asyncpg.Record],
    *,
    cause: seam.Cause,
) -> int:
    """Run the hooks over locked tickets that nothing else changes and write every resulting change, as
    :func:`apply` would one by one; returns how many tickets changed."""
    at = utcnow()
    outcomes: dict[int, seam.Outcome] = {}
    changed: dict[int, seam.Outcome] = {}
    for row in rows:
        after = await _after(raw, row, Write(fields={}, status=row["status"]), at)
        change = seam.TicketChange(cause=cause, at=at, ctx=ctx, before=row, after=after, config=config)
        outcome = outcomes[row["id"]] = seam.run_hooks(change, HOOKS)
        columns = {c for c in WRITABLE if outcome.after[c] != row[c]}
        if columns - _HOOK_COLUMNS:
            raise NotImplementedError(f"a hook-only change set {sorted(columns - _HOOK_COLUMNS)}")
        if columns or outcome.events:
            changed[row["id"]] = outcome
    if not outcomes:
        return 0
    # Every ticket's timers are made what its hooks declare, changed or not: a pass also repairs timers
    # that went missing (tickets written outside the seam, say, or before a hook existed).
    owned = frozenset().union(*(o.owned_timer_kinds for o in outcomes.values()))
    await raw.fetchval(
        _WRITE_HOOK_CHANGES,
        list(changed),
        [o.after["sla"] for o in changed.values()],
        [o.after["sla_due_at"] for o in changed.values()],
        [o.after["sla_breached"] for o in changed.values()],
        *timers.sync_args(owned, {ticket_id: o.timers for ticket_id, o in outcomes.items()}),
    )
    await record_events(tx, [event for o in changed.values() for event in o.events])
    if any(timers.wakes_runners(o.timers, at) for o in outcomes.values()):
        await timers.wake_runners(raw)
    return len(changed)


def _requested(data: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


async def update_ticket(
    tx: AsyncConnection,
    ctx: Context,
    config: seam.Config,
    ticket_id: int,
    data: TicketUpdate,
    expected_version: int | None,
) -> TicketRead:
    raw = await raw_transaction(tx)
    row = await lock_ticket(raw, ticket_id, expected_version)
    write = decide(row, ctx, _requested(data))
    return store.to_read(await apply(tx, raw, ctx, config, row, write))


AUTO_CLOSE_ACTOR = Context(actor=Actor("system", None, "auto-close"), request_id=None, agent_id=None)
SLA_ACTOR = Context(actor=Actor("system", None, "sla"), request_id=None, agent_id=None)

Configure = Callable[[asyncpg.Connection], Awaitable[seam.Config]]
"""Gives the hooks' configuration for a change on this connection (from the per-process caches)."""


def auto_close_handler(configure: Configure) -> timers.Handler:
    """The ``auto_close`` timer: close the ticket if it is still resolved (otherwise the timer is stale)."""

    async def auto_close(tx: AsyncConnection, timer: FiredTimer) -> None:
        raw = await raw_transaction(tx)
        row = await raw.fetchrow(store.GET_FOR_UPDATE, timer.ticket_id)
        if row is None or row["status"] != lifecycle.RESOLVED:
            return
        write = decide(row, AUTO_CLOSE_ACTOR, {"status": lifecycle.CLOSED})
        config = await configure(raw)
        await apply(tx, raw, AUTO_CLOSE_ACTOR, config, row, write, cause="timer", timer=timer)

    return auto_close


def moment_handler(configure: Configure) -> timers.Handler:
    """A timer at a moment a hook watches (SLA warning or breach): run the hooks on the ticket as it is
    now; they record the moment if it still applies, and nothing if a later change made it stale."""

    async def moment(tx: AsyncConnection, timer: FiredTimer) -> None:
        raw = await raw_transaction(tx)
        row = await raw.fetchrow(store.GET_FOR_UPDATE, timer.ticket_id)
        if row is None:
            return
        write = Write(fields={}, status=row["status"], params=store.Params(row["id"]))
        config = await configure(raw)
        # The timer is due by the database's clock; were this host's clock behind it, the hooks would
        # find the moment not yet passed, and the runner would delete the ticket's one SLA timer with
        # the later moments it stood for. So the change happens no earlier than the timer's instant.
        at = max(utcnow(), timer.due_at)
        await apply(tx, raw, SLA_ACTOR, config, row, write, cause="timer", at=at, timer=timer)

    return moment
