"""The seam's writer: a decided change of a locked ticket, its hooks' effects, all in one transaction.

``decide`` applies the lifecycle to what a caller (or a feature) asks; :func:`apply` describes the
change (``seam.TicketChange``), runs the registered hooks (``config.hooks``, built by ``api/features.py``)
and writes the change with every effect: the row and the hook-owned columns with the ticket's timers in
one statement, the events in one more, then each follow-on change a hook asked for through this same
path (attributed to the feature, refused transitions recorded on the ticket). Nothing here knows a
feature: the columns, timer kinds and actors come from the registry.

A change is an *edit* (``version`` + 1, ``updated_at``) when something was asked of the ticket — a field,
a status, a comment; a change only hooks make (an SLA moment recorded, a re-evaluation) is not: it
counts in ``state_revision``, which the ``ETag`` covers but ``If-Match`` does not (``store.etag``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from api.context import SYSTEM, Context
from api.db import raw_transaction, utcnow
from api.errors import FieldError, InvalidTransition, Unprocessable
from api.events.schemas import Change
from api.events.service import NewEvent, record_events_on
from api.tickets import lifecycle, seam, store
from api.timers import service as timers
from api.timers.service import FiredTimer

log = logging.getLogger("api.tickets")

MAX_FOLLOW_ON_DEPTH = 4
"""Follow-on changes of follow-on changes stop here: a loop between features is recorded, not run."""

# What a follow-on change may ask for: what a PATCH may send.
FOLLOW_ON_FIELDS = frozenset(
    {"subject", "status", "priority", "assignee_id", "group_id", "tags", "external_ref"}
)


def unknown_reference(field: str) -> Unprocessable:
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


async def refs(
    raw: asyncpg.Connection, assignee_id: uuid.UUID | None, group_id: uuid.UUID | None
) -> dict[str, Any]:
    """Check that an assignee and a group exist and are active; their names, as ``store.COLUMNS`` has them."""
    row = await raw.fetchrow(_REFS, assignee_id, group_id)
    for column, value, active in (
        ("assignee_id", assignee_id, row["agent_active"]),
        ("group_id", group_id, row["group_active"]),
    ):
        if value is not None and active is None:
            raise unknown_reference(column)
        if value is not None and not active:
            raise _inactive(column)
    return {k: row[k] for k in ("assignee_name", "assignee_email", "group_name")}


@dataclass(slots=True)
class Write:
    """A decided change of one ticket: column values, the resulting status, and extra SQL assignments
    (derived data such as the search vector, which no hook reads)."""

    fields: dict[str, Any]
    status: str
    extra_sql: list[str] = field(default_factory=list)
    params: store.Params = field(default_factory=store.Params)

    def touches(self, row: store.Row) -> bool:
        """Whether this is an edit of the ticket (``version``, ``updated_at``), as opposed to a change only
        hooks make (an SLA moment, a re-evaluation)."""
        return bool(self.fields or self.extra_sql) or self.status != row["status"]


def unchanged(row: store.Row) -> Write:
    """A change nobody asks for: the hooks run over the ticket as it is (a timer, a re-evaluation)."""
    return Write(fields={}, status=row["status"], params=store.Params(row["id"]))


def decide(row: store.Row, ctx: Context, changes: Mapping[str, Any]) -> Write:
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


def index_comment(write: Write, body: str) -> None:
    """Add a comment's text to the ticket's search vector with the change."""
    # A tsvector holds at most 1 MB: past ~900 kB, later comments are no longer indexed for `q=`.
    placeholder = write.params.add(body, "::text")
    write.extra_sql.append(
        f"search = CASE WHEN pg_column_size(search) < 900000 THEN search || to_tsvector('english', "
        f"{placeholder}) ELSE search END"
    )


def count_comment(write: Write, row: store.Row, *, author_type: str, public: bool, at: dt.datetime) -> None:
    """Keep what rule conditions read of a ticket's comments (``api/conditions``): how many, and when the
    customer last wrote and an agent last replied in public (a system message is neither). The ticket
    row is locked, so the count cannot race."""
    write.fields["comment_count"] = row["comment_count"] + 1
    if public and author_type == "customer":
        write.fields["last_customer_message_at"] = at
    elif public and author_type == "agent":
        write.fields["last_agent_reply_at"] = at


async def _after(raw: asyncpg.Connection, row: store.Row, write: Write, at: dt.datetime) -> dict[str, Any]:
    """The ticket as the decided change leaves it, before hooks add their columns."""
    after = dict(row)
    after.update(write.fields)
    if write.status != row["status"]:
        after["status"] = write.status
        after["status_changed_at"] = at  # rules' "since the status changed" (api/conditions)
        if write.status == lifecycle.RESOLVED:
            after["resolved_at"] = at
        elif lifecycle.is_reopen(row["status"], write.status):
            after["resolved_at"] = None
        elif write.status == lifecycle.CLOSED:
            after["closed_at"] = at
    if "assignee_id" in write.fields or "group_id" in write.fields:
        after.update(await refs(raw, after["assignee_id"], after["group_id"]))
    if write.touches(row):
        after["version"] = row["version"] + 1
        after["state_revision"] = 0
        after["updated_at"] = at
    else:
        after["state_revision"] = row["state_revision"] + 1
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
    tx: AsyncConnection | asyncpg.Connection,
    raw: asyncpg.Connection,
    ctx: Context,
    config: seam.Config,
    row: store.Row,
    write: Write,
    *,
    cause: seam.Cause = "updated",
    at: dt.datetime | None = None,
    comment: seam.CommentFacts | None = None,
    timer: FiredTimer | None = None,
    depth: int = 0,
) -> store.Row:
    """Describe a decided change, run the hooks, and write the change with every effect and follow-on
    change; returns the new row (the old one when nothing changes). ``tx`` is the transaction's
    connection (kept for callers; the writer uses ``raw``, the same transaction)."""
    at = at or utcnow()
    after = await _after(raw, row, write, at)
    config = await config.hooks.prepare(raw, config, [(row, after)], at)
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
        depth=depth,
    )
    return await _write_change(raw, config, row, write, change)


async def _write_change(
    raw: asyncpg.Connection, config: seam.Config, row: store.Row, write: Write, change: seam.TicketChange
) -> store.Row:
    outcome = config.hooks.run(change)
    columns = {c: outcome.after[c] for c in config.hooks.writable if outcome.after[c] != row[c]}
    new = row
    if columns or write.extra_sql or outcome.events:
        new = await _write(raw, config, row, write, columns, outcome, change.at)
        await record_events_on(raw, outcome.events)
    else:
        # Nothing to write but timers, which may still have moved (a configuration changed, say).
        await _sync_timers(raw, row["id"], outcome)
    if outcome.timers and timers.wakes_runners(outcome.timers, change.at):
        await timers.wake_runners(raw)
    for follow_on in outcome.follow_ons:
        new = await follow(raw, config, new, follow_on, at=change.at, depth=change.depth + 1)
    return new


def _update_sets(config: seam.Config, columns: Mapping[str, Any], p: store.Params) -> list[str]:
    sets = []
    for name, value in columns.items():
        sql_type = config.hooks.columns.get(name)
        # jsonb travels as text (see store.COLUMNS), whatever codecs the connection has for jsonb.
        cast = "::text::jsonb" if sql_type == "jsonb" else ""
        sets.append(f"{name} = {p.add(value, cast)}")
    return sets


async def _write(
    raw: asyncpg.Connection,
    config: seam.Config,
    row: store.Row,
    write: Write,
    columns: dict[str, Any],
    outcome: seam.Outcome,
    at: dt.datetime,
) -> asyncpg.Record:
    """One statement: the ticket row, and its timers of the hooks' kinds made what they declared."""
    p = write.params
    if not p.values:
        p.add(row["id"])
    sets = _update_sets(config, columns, p)
    if "subject" in columns:
        sets.append(
            f"search = setweight(to_tsvector('english', {p.add(columns['subject'], '::text')}), 'A') || "
            "coalesce((SELECT to_tsvector('english', string_agg(body, ' ')) FROM comments "
            "WHERE ticket_id = $1), ''::tsvector)"
        )
    sets += write.extra_sql
    if write.touches(row):
        sets += [f"version = {p.add(row['version'] + 1)}", "state_revision = 0", f"updated_at = {p.add(at)}"]
    else:
        sets.append(f"state_revision = {p.add(row['state_revision'] + 1)}")
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


_SYNC_ONLY = f"WITH {timers.sync_ctes('$1', '$2', '$3', '$4', '$5', '$6')} SELECT 1"


async def _sync_timers(raw: asyncpg.Connection, ticket_id: int, outcome: seam.Outcome) -> None:
    if outcome.owned_timer_kinds:
        await raw.execute(
            _SYNC_ONLY, *timers.sync_args(outcome.owned_timer_kinds, {ticket_id: outcome.timers})
        )


# Follow-on changes ----------------------------------------------------------------------------------


async def follow(
    raw: asyncpg.Connection,
    config: seam.Config,
    row: store.Row,
    follow_on: seam.FollowOn,
    *,
    at: dt.datetime,
    depth: int,
) -> store.Row:
    """A feature's change of the ticket, through the lifecycle and the hooks like any other; a change the
    lifecycle (or a reference check) refuses is recorded on the ticket and changes nothing."""
    stray = sorted(set(follow_on.changes) - FOLLOW_ON_FIELDS)
    if stray:
        raise seam.HookContractError(f"a follow-on change cannot set {stray}")
    if depth > MAX_FOLLOW_ON_DEPTH:
        detail = (
            f"Follow-on changes nested deeper than {MAX_FOLLOW_ON_DEPTH}: features keep changing the ticket."
        )
        await _refused(raw, row, follow_on, "follow-on-depth", detail)
        return row
    ctx, comment = follow_on.ctx, follow_on.comment
    try:
        write = decide(row, ctx, follow_on.changes)
        if comment is not None:
            outcome = lifecycle.apply_comment(
                lifecycle.State(write.status, write.fields.get("assignee_id", row["assignee_id"])),
                author_type=comment.author_type,
                public=comment.public,
                first_agent_reply_done=row["first_agent_reply_at"] is not None,
            )
            write.status = outcome.status
            if outcome.first_agent_reply:
                write.fields["first_agent_reply_at"] = at
            index_comment(write, comment.body)
            count_comment(write, row, author_type=comment.author_type, public=comment.public, at=at)
        after = await _after(raw, row, write, at)
    except (InvalidTransition, Unprocessable) as exc:
        await _refused(raw, row, follow_on, exc.rule or exc.slug, exc.detail)
        return row
    config = await config.hooks.prepare(raw, config, [(row, after)], at)
    facts = None if comment is None else await _insert_comment(raw, row["id"], comment, at)
    resolver = None
    if after["status"] == lifecycle.RESOLVED and row["status"] != lifecycle.RESOLVED:
        resolver = await _resolver(raw, ctx, after)
    change = seam.TicketChange(
        cause="follow_on",
        at=at,
        ctx=ctx,
        before=row,
        after=after,
        config=config,
        comment=facts,
        resolver=resolver,
        depth=depth,
    )
    return await _write_change(raw, config, row, write, change)


_INSERT_COMMENT = """
INSERT INTO comments (ticket_id, author_type, author_agent_id, public, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
"""


async def _insert_comment(
    raw: asyncpg.Connection, ticket_id: int, comment: seam.NewComment, at: dt.datetime
) -> seam.CommentFacts:
    agent_id = comment.author_agent_id if comment.author_type == "agent" else None
    comment_id = await raw.fetchval(
        _INSERT_COMMENT, ticket_id, comment.author_type, agent_id, comment.public, comment.body, at
    )
    return seam.CommentFacts(
        id=comment_id,
        author_type=comment.author_type,
        author_id=None if agent_id is None else str(agent_id),
        public=comment.public,
        body=comment.body,
        created_at=at,
    )


def _wire(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def _refused(
    raw: asyncpg.Connection, row: store.Row, follow_on: seam.FollowOn, rule: str, detail: str
) -> None:
    changes = [Change(k, _wire(row[k]), _wire(v)) for k, v in follow_on.changes.items()]
    data = {
        "ticket": store.summary(row),
        "rule": rule,
        "detail": detail,
        "reason": follow_on.reason,
        "comment": None if follow_on.comment is None else follow_on.comment.body,
    }
    event = NewEvent(
        type=seam.CHANGE_REFUSED, ticket_id=row["id"], ctx=follow_on.ctx, changes=changes, data=data
    )
    await record_events_on(raw, [event])


# Hook-only changes, many at once --------------------------------------------------------------------


@cache
def _batch_sql(columns: tuple[tuple[str, str], ...]) -> str:
    """Many hook-only changes (a re-evaluation's batch) with their timers in one statement: the hook-owned
    columns of each changed ticket, from arrays, and its state revision."""
    arrays = ", ".join(
        f"${i}::{'text' if sql_type == 'jsonb' else sql_type}[]" for i, (_, sql_type) in enumerate(columns, 2)
    )
    names = ", ".join(name for name, _ in columns)
    sets = ", ".join(
        f"{name} = c.{name}{'::jsonb' if sql_type == 'jsonb' else ''}" for name, sql_type in columns
    )
    first = len(columns) + 2
    sync = timers.sync_ctes(*(f"${i}" for i in range(first, first + 6)))
    return f"""
WITH changed AS (
    UPDATE tickets t SET {sets}, state_revision = t.state_revision + 1
    FROM unnest($1::bigint[], {arrays}) AS c(id, {names})
    WHERE t.id = c.id
    RETURNING t.id
), {sync}
SELECT count(*) FROM changed
"""


async def apply_hooks(
    raw: asyncpg.Connection,
    ctx: Context,
    config: seam.Config,
    rows: list[asyncpg.Record],
    *,
    cause: seam.Cause,
) -> int:
    """Run the hooks over locked tickets that nothing else changes and write every resulting change, as
    :func:`apply` would one by one (a ticket whose hooks ask for follow-on changes goes through it);
    returns how many tickets changed."""
    at = utcnow()
    config = await config.hooks.prepare(raw, config, [(row, row) for row in rows], at)
    outcomes: dict[int, seam.Outcome] = {}
    changed: dict[int, seam.Outcome] = {}
    one_by_one = []
    for row in rows:
        after = await _after(raw, row, unchanged(row), at)
        change = seam.TicketChange(cause=cause, at=at, ctx=ctx, before=row, after=after, config=config)
        outcome = config.hooks.run(change)
        if outcome.follow_ons:
            one_by_one.append(row)
            continue
        outcomes[row["id"]] = outcome
        if outcome.events or any(outcome.after[c] != row[c] for c in config.hooks.writable):
            changed[row["id"]] = outcome
    if outcomes:
        # Every ticket's timers are made what its hooks declare, changed or not: a pass also repairs
        # timers that went missing (tickets written outside the seam, or before a hook existed) and
        # re-arms them when a setting they depend on changed.
        columns = tuple(config.hooks.columns.items())
        await raw.fetchval(
            _batch_sql(columns),
            list(changed),
            *([o.after[name] for o in changed.values()] for name, _ in columns),
            *timers.sync_args(
                config.hooks.timer_kinds, {ticket_id: o.timers for ticket_id, o in outcomes.items()}
            ),
        )
        await record_events_on(raw, [event for o in changed.values() for event in o.events])
        if any(timers.wakes_runners(o.timers, at) for o in outcomes.values()):
            await timers.wake_runners(raw)
    count = len(changed)
    for row in one_by_one:
        count += await apply(raw, raw, ctx, config, row, unchanged(row), cause=cause, at=at) is not row
    return count


# Timers ---------------------------------------------------------------------------------------------

Configure = Callable[[asyncpg.Connection], Awaitable[seam.Config]]
"""Gives the hooks' configuration for a change on this connection (from the per-process caches)."""


def timer_handler(configure: Configure) -> timers.Handler:
    """The one handler of every ticket timer: at the due instant, run the hooks over the ticket as it is
    now, as the actor of the feature that owns the timer's kind. The hooks do what the moment means (the
    SLA records a warning or breach, auto-close asks to close) or nothing when a later change made it
    stale, and declare the timers that should exist from then on."""

    async def fire(tx: AsyncConnection, timer: FiredTimer) -> None:
        raw = await raw_transaction(tx)
        row = await raw.fetchrow(store.GET_FOR_UPDATE, timer.ticket_id)
        if row is None:
            return
        config = await configure(raw)
        owner = config.hooks.owner(timer.kind)
        ctx = owner.actor if owner is not None and owner.actor is not None else SYSTEM
        # The timer is due by the database's clock; were this host's clock behind it, the hooks would
        # find the moment not yet passed (and the SLA hook would move its one timer past the moments it
        # stood for). So the change happens no earlier than the timer's instant.
        at = max(utcnow(), timer.due_at)
        await apply(raw, raw, ctx, config, row, unchanged(row), cause="timer", at=at, timer=timer)

    return fire
