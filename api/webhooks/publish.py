"""Publishing events: the transactional outbox every feature writes webhooks through.

Call :func:`publish` inside the transaction that makes the change. It serialises each event's Standard
Webhooks body once, stores the bytes, writes one delivery row per subscribed enabled endpoint and queues a
NOTIFY. PostgreSQL delivers the NOTIFY only when (and if) the transaction commits, so a worker wakes
within a millisecond of the commit — and a rolled-back change leaves nothing to deliver.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.db import raw_transaction, utcnow
from api.webhooks.catalog import CATALOG

CHANNEL = "helpdesk_webhooks"
"""NOTIFY channel meaning "deliveries are due now"."""

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_message_id() -> str:
    """``msg_`` + 128 random bits: the ``webhook-id`` consumers deduplicate on."""
    value = secrets.randbits(128)
    digits = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(_ALPHABET[rem])
    return "msg_" + "".join(reversed(digits)).rjust(25, "0")


class OutgoingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event to send: ``type`` from the catalog, ``data`` a Struct of that type's data schema."""

    type: str
    data: Any
    occurred_at: dt.datetime = msgspec.field(default_factory=utcnow)
    id: str = msgspec.field(default_factory=new_message_id)


class _Envelope(msgspec.Struct):
    type: str
    timestamp: dt.datetime
    data: Any


_encoder = msgspec.json.Encoder()


def checked_body(event: OutgoingEvent) -> bytes:
    """The body of an event after checking it against the catalog."""
    _check(event)
    return render_body(event)


def render_body(event: OutgoingEvent) -> bytes:
    """The exact bytes every attempt sends and signs: ``{"type", "timestamp", "data"}``."""
    return _encoder.encode(_Envelope(event.type, event.occurred_at, event.data))


# One statement: the messages that have at least one subscriber, and their deliveries. Messages nobody
# subscribes to are not stored.
# It runs on the raw asyncpg connection under the transaction, as a prepared statement: it is on the
# path of every ticket write, where SQLAlchemy's per-statement overhead cost a fifth of create throughput.
def fanout_ctes(only_endpoint: str) -> str:
    """CTEs that store the messages of a preceding ``ev(id, type, body, occurred_at)`` CTE that have a
    subscriber, and one delivery per subscribed enabled endpoint (or only ``only_endpoint``, a SQL
    expression, when it is not NULL). Shared with the event recorder, which publishes in its insert."""
    return f"""targets AS (
    SELECT ev.id AS message_id, e.id AS endpoint_id
    FROM ev JOIN webhook_endpoints e
      ON ({only_endpoint}::uuid IS NULL AND e.enabled
          AND (e.event_types IS NULL OR ev.type = ANY(e.event_types)))
      OR e.id = {only_endpoint}::uuid
), messages AS (
    INSERT INTO webhook_messages (id, type, body, occurred_at)
    SELECT id, type, body, occurred_at FROM ev WHERE id IN (SELECT message_id FROM targets)
), deliveries AS (
    INSERT INTO webhook_deliveries (endpoint_id, message_id)
    SELECT endpoint_id, message_id FROM targets
    RETURNING id
)"""


def notify_once(channel: str) -> str:
    """A scalar that sends the NOTIFY once, on the same round trip, only when deliveries were created."""
    once = "(SELECT 1 FROM deliveries LIMIT 1) one"
    return f"(SELECT count(*) FROM (SELECT pg_notify({channel}, '') FROM {once}) n)"


_PUBLISH = f"""
WITH ev AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[])
        AS t(id, type, body, occurred_at)
), {fanout_ctes("$5")}
SELECT (SELECT count(*) FROM deliveries) AS created, {notify_once("$6")}
"""


async def publish(
    conn: AsyncConnection, events: Sequence[OutgoingEvent], *, only_endpoint: uuid.UUID | None = None
) -> int:
    """Queue ``events`` for delivery in ``conn``'s transaction; returns the number of deliveries created.

    ``only_endpoint`` sends to that one endpoint whatever its subscriptions (test events).
    """
    if not events:
        return 0
    bodies = [checked_body(event) for event in events]
    raw = await raw_transaction(conn)
    created = await raw.fetchval(
        _PUBLISH,
        [event.id for event in events],
        [event.type for event in events],
        bodies,
        [event.occurred_at for event in events],
        only_endpoint,
        CHANNEL,
    )
    return int(created)


def _check(event: OutgoingEvent) -> None:
    """Catch programming errors at the call site rather than in a consumer's inbox."""
    event_type = CATALOG.get(event.type)
    if event_type is None:
        raise ValueError(f"unknown webhook event type {event.type!r}; register it in api.webhooks.catalog")
    if not isinstance(event.data, event_type.data):
        raise TypeError(
            f"{event.type} data must be {event_type.data.__name__}, not {type(event.data).__name__}"
        )
    if event.occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
