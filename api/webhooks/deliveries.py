"""Delivery operations: list deliveries and attempts, redeliver, recover after an outage, health."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.errors import Conflict, NotFound
from api.pagination import Page, decode_cursor, encode_cursor
from api.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from api.webhooks.publish import CHANNEL
from api.webhooks.schemas import AttemptRead, DeliveryRead, EndpointHealth

HEALTH_WINDOW = dt.timedelta(hours=24)

_D = WebhookDelivery
_DELIVERY_COLUMNS = (
    _D.id,
    _D.endpoint_id,
    _D.message_id,
    WebhookMessage.type.label("event_type"),
    _D.status,
    _D.attempt_count,
    _D.next_attempt_at,
    _D.last_status_code,
    _D.last_error,
    _D.delivered_at,
    _D.created_at,
)


def _delivery_query() -> Select[*tuple[Any, ...]]:
    return select(*_DELIVERY_COLUMNS).join(WebhookMessage, WebhookMessage.id == _D.message_id)


def _to_delivery(row: RowMapping) -> DeliveryRead:
    values = dict(row)
    if values["status"] != "pending":
        values["next_attempt_at"] = None
    return DeliveryRead(**values)


async def notify_due(conn: AsyncConnection) -> None:
    """Wake the workers when this transaction commits."""
    await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


async def list_deliveries(
    conn: AsyncConnection,
    *,
    endpoint_id: uuid.UUID | None = None,
    message_id: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    limit: int,
    cursor: str | None = None,
) -> Page[DeliveryRead]:
    """Newest first."""
    query = _delivery_query().order_by(_D.id.desc()).limit(limit + 1)
    if endpoint_id is not None:
        query = query.where(_D.endpoint_id == endpoint_id)
    if message_id is not None:
        query = query.where(_D.message_id == message_id)
    if status is not None:
        query = query.where(_D.status == status)
    if event_type is not None:
        query = query.where(WebhookMessage.type == event_type)
    if cursor is not None:
        (before,) = decode_cursor(cursor, tuple[int])
        query = query.where(_D.id < before)
    rows = (await conn.execute(query)).mappings().all()
    items = [_to_delivery(row) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].id,)) if len(rows) > limit else None
    return Page(data=items, next_cursor=next_cursor)


async def get_delivery(conn: AsyncConnection, delivery_id: int) -> DeliveryRead:
    row = (await conn.execute(_delivery_query().where(_D.id == delivery_id))).mappings().one_or_none()
    if row is None:
        raise NotFound(f"Webhook delivery {delivery_id} does not exist.")
    return _to_delivery(row)


async def list_attempts(
    conn: AsyncConnection, delivery_id: int, *, limit: int, cursor: str | None
) -> Page[AttemptRead]:
    """Oldest first."""
    await get_delivery(conn, delivery_id)
    a = WebhookAttempt
    query = (
        select(
            a.id,
            a.delivery_id,
            a.number,
            a.started_at,
            a.duration_ms,
            a.succeeded,
            a.status_code,
            a.error_class,
            a.error,
            a.request_headers,
            a.response_body,
            a.worker,
        )
        .where(a.delivery_id == delivery_id)
        .order_by(a.id)
        .limit(limit + 1)
    )
    if cursor is not None:
        (after,) = decode_cursor(cursor, tuple[int])
        query = query.where(a.id > after)
    rows = (await conn.execute(query)).mappings().all()
    items = [AttemptRead(**row) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].id,)) if len(rows) > limit else None
    return Page(data=items, next_cursor=next_cursor)


def _requeue_values() -> dict[str, Any]:
    return {
        "status": "pending",
        "next_attempt_at": func.now(),
        "retry_count": 0,
        "locked_until": None,
        "lease_token": None,
        "updated_at": func.now(),
    }


async def redeliver(conn: AsyncConnection, delivery_id: int) -> DeliveryRead:
    """Send the delivery again now, same body and ``webhook-id``, with a fresh retry schedule."""
    current = await get_delivery(conn, delivery_id)
    in_flight = await conn.scalar(
        select(_D.id).where(_D.id == delivery_id, _D.locked_until > func.now()).with_for_update()
    )
    if in_flight is not None:
        raise Conflict("The delivery is being attempted right now; look at its attempts shortly.")
    await conn.execute(update(_D).where(_D.id == current.id).values(**_requeue_values()))
    await notify_due(conn)
    return await get_delivery(conn, delivery_id)


async def recover(
    conn: AsyncConnection, endpoint_id: uuid.UUID, since: dt.datetime, until: dt.datetime | None
) -> int:
    """Re-send now the endpoint's deliveries created in ``[since, until)`` that failed: given up on, or
    waiting for a retry (after an outage the next retry may be hours away). Returns how many."""
    exists = await conn.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id))
    if exists is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    not_in_flight = _D.locked_until.is_(None) | (_D.locked_until <= func.now())
    retrying = (_D.status == "pending") & (_D.retry_count > 0) & not_in_flight
    query = update(_D).where(
        _D.endpoint_id == endpoint_id, (_D.status == "failed") | retrying, _D.created_at >= since
    )
    if until is not None:
        query = query.where(_D.created_at < until)
    result = await conn.execute(query.values(**_requeue_values()).returning(_D.id))
    count = len(result.all())
    if count:
        await notify_due(conn)
    return count


_HEALTH = text(
    """
SELECT count(*) AS attempts,
       count(*) FILTER (WHERE succeeded) AS succeeded,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
       max(started_at) FILTER (WHERE succeeded) AS last_success_at
FROM webhook_attempts WHERE endpoint_id = :endpoint_id AND started_at >= :since
"""
)


async def health(conn: AsyncConnection, endpoint_id: uuid.UUID, now: dt.datetime) -> EndpointHealth:
    exists = await conn.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id))
    if exists is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    since = now - HEALTH_WINDOW
    stats = (await conn.execute(_HEALTH, {"endpoint_id": endpoint_id, "since": since})).mappings().one()
    a = WebhookAttempt
    last_error = (
        await conn.execute(
            select(a.error, a.status_code, a.started_at)
            .where(a.endpoint_id == endpoint_id, a.started_at >= since, a.succeeded.is_(False))
            .order_by(a.started_at.desc())
            .limit(1)
        )
    ).one_or_none()
    pending = await conn.scalar(
        select(func.count()).where(_D.endpoint_id == endpoint_id, _D.status == "pending")
    )
    attempts = int(stats["attempts"])
    return EndpointHealth(
        endpoint_id=endpoint_id,
        window_start=since,
        attempts=attempts,
        succeeded=int(stats["succeeded"]),
        success_rate=(stats["succeeded"] / attempts) if attempts else None,
        p50_ms=stats["p50_ms"],
        p99_ms=stats["p99_ms"],
        pending=int(pending or 0),
        last_error=None if last_error is None else (last_error.error or f"HTTP {last_error.status_code}"),
        last_error_at=None if last_error is None else last_error.started_at,
        last_success_at=stats["last_success_at"],
    )
