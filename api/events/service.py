"""Recording events (the only way they are written) and reading history and the change feed.

Change-feed ordering: events carry a global ``id`` from a sequence, but sequence order is not commit
order — a transaction can take id 10 and commit before another that took id 9. A reader that advanced
its cursor past 10 would then never see 9. So the feed is ordered by (writing transaction id, id) and
shows only events of transactions older than the oldest transaction still running
(``pg_snapshot_xmin``): every transaction that can still commit an event sorts after every event shown.
The price: a writing transaction that stays open holds the feed back until it ends (read-only ones do
not, they have no transaction id), so write transactions must stay short.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.context import Context
from api.db import raw_connection, raw_transaction, utcnow
from api.events.schemas import ActorRead, Change, EventFeedPage, EventPage, EventRead
from api.events.webhooks import actor_json, event_documents, webhook_bodies
from api.pagination import decode_cursor, encode_cursor
from api.webhooks.publish import CHANNEL, fanout_ctes, notify_once


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An event about to be recorded; ``data`` holds what a webhook payload needs beyond the changes."""

    type: str
    ticket_id: int | None
    ctx: Context
    changes: list[Change] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedEvent:
    id: int
    txid: int
    event: NewEvent


# The events and their webhook messages in one statement (one round trip on every ticket write). Ids
# come from the sequence in input order, so row_number() over id pairs each event with its body.
_INSERT = f"""
WITH inserted AS (
    INSERT INTO events (type, ticket_id, actor_type, actor_id, actor_name, api_key_id, request_id, changes,
                        data)
    SELECT e.type, e.ticket_id, e.actor_type, e.actor_id, e.actor_name, e.api_key_id, e.request_id,
           e.changes::jsonb, e.data::jsonb
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[],
                $8::text[], $9::text[])
         WITH ORDINALITY AS e(type, ticket_id, actor_type, actor_id, actor_name, api_key_id, request_id,
                              changes, data, n)
    ORDER BY e.n
    RETURNING id, txid, type
), numbered AS (
    SELECT id, txid, type, row_number() OVER (ORDER BY id) AS n FROM inserted
), ev AS (
    SELECT 'evt_' || numbered.id AS id, numbered.type, w.body, $11::timestamptz AS occurred_at
    FROM numbered JOIN unnest($10::bytea[]) WITH ORDINALITY AS w(body, n) USING (n)
    WHERE w.body IS NOT NULL
), {fanout_ctes("NULL")}
SELECT id, txid, {notify_once("$12")} AS notified FROM numbered ORDER BY n
"""


async def record_events(conn: AsyncConnection, events: Sequence[NewEvent]) -> list[RecordedEvent]:
    """Write events in the caller's transaction: they exist exactly when the change they describe does.

    Every event write goes through here, so delivery mechanisms (webhooks) can hook in at one place.
    """
    if not events:
        return []
    return await record_events_on(await raw_transaction(conn), events)


async def record_events_on(raw: asyncpg.Connection, events: Sequence[NewEvent]) -> list[RecordedEvent]:
    """:func:`record_events` on the raw connection of the caller's transaction (a ticket creation that
    is not a unit of work)."""
    if not events:
        return []
    documents = event_documents(events)
    columns: list[list[Any]] = [[] for _ in range(9)]
    for event, document in zip(events, documents, strict=True):
        actor = event.ctx.actor
        values = (
            event.type,
            event.ticket_id,
            actor.type,
            actor.id,
            actor.name,
            actor.api_key_id,
            event.ctx.request_id,
            msgspec.json.encode(event.changes).decode(),
            msgspec.json.encode(event.data if document is None else document).decode(),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    # Webhooks are written by the same statement: they exist exactly when the change does.
    now = utcnow()
    rows = await raw.fetch(_INSERT, *columns, webhook_bodies(events, documents, now), now, CHANNEL)
    return [
        RecordedEvent(id=row["id"], txid=row["txid"], event=e) for row, e in zip(rows, events, strict=True)
    ]


# Parameters of an inline event, in the order of :func:`inline_event_args`, with their SQL types.
INLINE_EVENT_PARAMS = {
    "actor_type": "text",
    "actor_id": "text",
    "actor_name": "text",
    "api_key_id": "uuid",
    "request_id": "text",
    "occurred_at": "timestamptz",
    "channel": "text",
    "actor_json": "json",
}


def inline_param(first: int, name: str) -> str:
    """The typed placeholder of inline event parameter ``name`` when they start at ``$first``; the
    caller's webhook body SQL uses ``occurred_at`` and ``actor_json``."""
    return f"${first + list(INLINE_EVENT_PARAMS).index(name)}::{INLINE_EVENT_PARAMS[name]}"


def inline_event_args(ctx: Context, occurred_at: dt.datetime) -> tuple[Any, ...]:
    actor = ctx.actor
    return (
        actor.type,
        actor.id,
        actor.name,
        actor.api_key_id,
        ctx.request_id,
        occurred_at,
        CHANNEL,
        actor_json(ctx),
    )


def inline_event_ctes(source: str, first: int) -> str:
    """CTEs that record, inside another write statement, one event per row of the CTE ``source``
    (columns ``event_type``, ``ticket_id``, ``event_data`` jsonb and ``webhook_body`` bytea or NULL) and
    publish its webhook message, like :func:`record_events`; they end in the CTE ``deliveries``.

    For a change that is a single statement (ticket creation): a single statement is its own
    transaction, so it can run without BEGIN and COMMIT, and the change, its event and its webhook still
    exist together or not at all. The actor and request come from parameters ``$first`` onwards, in the
    order of :func:`inline_event_args`; select :func:`inline_notify` to wake the webhook workers.
    """

    def param(name: str) -> str:
        return inline_param(first, name)

    return f"""inserted AS (
    INSERT INTO events (type, ticket_id, actor_type, actor_id, actor_name, api_key_id, request_id, data)
    SELECT s.event_type, s.ticket_id, {param("actor_type")}, {param("actor_id")}, {param("actor_name")},
           {param("api_key_id")}, {param("request_id")}, s.event_data
    FROM {source} s
    RETURNING id, ticket_id
), ev AS (
    SELECT 'evt_' || i.id AS id, s.event_type AS type, s.webhook_body AS body,
           {param("occurred_at")} AS occurred_at
    FROM inserted i JOIN {source} s USING (ticket_id)
    WHERE s.webhook_body IS NOT NULL
), {fanout_ctes("NULL")}"""


def inline_notify(first: int) -> str:
    """The NOTIFY of :func:`inline_event_ctes` (started at ``$first``), as a scalar to select."""
    return notify_once(inline_param(first, "channel"))


_COLUMNS = (
    "id, txid, type, ticket_id, actor_type, actor_id, actor_name, api_key_id, request_id, "
    "changes::text AS changes, data::text AS data, created_at"
)


def _to_read(row: Any) -> EventRead:
    return EventRead(
        id=row["id"],
        type=row["type"],
        ticket_id=row["ticket_id"],
        actor=ActorRead(
            type=row["actor_type"], id=row["actor_id"], name=row["actor_name"], api_key_id=row["api_key_id"]
        ),
        request_id=row["request_id"],
        changes=msgspec.json.decode(row["changes"], type=list[Change]),
        data=msgspec.json.decode(row["data"]),
        created_at=row["created_at"],
    )


async def ticket_history(
    conn: AsyncConnection, ticket_id: int, *, limit: int, cursor: str | None
) -> EventPage:
    raw = await raw_connection(conn)
    after = decode_cursor(cursor, tuple[int])[0] if cursor else 0
    rows = await raw.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        ticket_id,
        after,
        limit + 1,
    )
    items = [_to_read(row) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].id,)) if len(rows) > limit else None
    return EventPage(data=items, next_cursor=next_cursor)


async def feed(
    conn: AsyncConnection, *, after: str | None, types: Sequence[str] | None, limit: int
) -> EventFeedPage:
    raw = await raw_connection(conn)
    position = decode_cursor(after, tuple[int, int], "after") if after else (0, 0)
    rows = await raw.fetch(
        f"SELECT {_COLUMNS} FROM events "
        "WHERE (txid, id) > ($1, $2) "
        "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
        "AND ($3::text[] IS NULL OR type = ANY($3::text[])) "
        "ORDER BY txid, id LIMIT $4",
        position[0],
        position[1],
        list(types) if types else None,
        limit,
    )
    if rows:
        position = (rows[-1]["txid"], rows[-1]["id"])
    return EventFeedPage(data=[_to_read(row) for row in rows], next_cursor=encode_cursor(position))


async def ticket_exists(conn: AsyncConnection, ticket_id: int) -> bool:
    raw = await raw_connection(conn)
    return bool(await raw.fetchval("SELECT EXISTS (SELECT 1 FROM tickets WHERE id = $1)", ticket_id))
