"""Webhook endpoints: registration, secrets, enable/disable, test events, the event catalog."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.db import utcnow
from api.errors import Conflict, FieldError, NotFound, Unprocessable
from api.pagination import Page, decode_cursor, encode_cursor
from api.webhooks.catalog import CATALOG, WebhookTestData, data_schema
from api.webhooks.deliveries import list_deliveries, notify_due
from api.webhooks.models import WebhookEndpoint
from api.webhooks.publish import OutgoingEvent, publish
from api.webhooks.schemas import (
    DeliveryRead,
    EndpointCreate,
    EndpointCreated,
    EndpointRead,
    EndpointSecret,
    EndpointUpdate,
    EventTypeRead,
)
from api.webhooks.signing import new_secret
from api.webhooks.ssrf import SsrfPolicy, UrlProblem, validate_url

SECRET_OVERLAP = dt.timedelta(hours=24)

_COLUMNS = (
    WebhookEndpoint.id,
    WebhookEndpoint.url,
    WebhookEndpoint.description,
    WebhookEndpoint.event_types,
    WebhookEndpoint.headers,
    WebhookEndpoint.enabled,
    WebhookEndpoint.disabled_reason,
    WebhookEndpoint.failing_since,
    WebhookEndpoint.previous_secret_expires_at,
    WebhookEndpoint.created_at,
    WebhookEndpoint.updated_at,
)


MASKED = "[redacted]"
"""What the API shows instead of a custom header value: the values are credentials more often than not,
and the API, unlike the receiver, has no need to show them back (they are write-only)."""


def _to_read(row: RowMapping) -> EndpointRead:
    rotated_until = row["previous_secret_expires_at"]
    if rotated_until is not None and rotated_until <= utcnow():
        rotated_until = None
    return EndpointRead(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=row["event_types"],
        headers=dict.fromkeys(row["headers"], MASKED),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        secret_rotated_until=rotated_until,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def list_event_types() -> list[EventTypeRead]:
    return [
        EventTypeRead(name=et.name, description=et.description, schema=data_schema(et))
        for et in sorted(CATALOG.values(), key=lambda et: et.name)
    ]


def _check_event_types(event_types: list[str] | None) -> list[str] | None:
    if event_types is None:
        return None
    unknown = [name for name in event_types if name not in CATALOG]
    if unknown:
        raise Unprocessable(
            "Unknown event types; see listWebhookEventTypes.",
            errors=[
                FieldError(
                    "body", f"$.event_types[{event_types.index(name)}]", f"unknown event type {name!r}"
                )
                for name in unknown
            ],
        )
    if not event_types:
        raise Unprocessable(
            "Subscribe to at least one event type, or omit event_types for all.",
            errors=[FieldError("body", "$.event_types", "must not be empty")],
        )
    return sorted(set(event_types))


# Headers the delivery itself owns: a custom value would break signing, framing or the SSRF guard's Host.
RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "transfer-encoding", "connection", "user-agent"}
)
MAX_CUSTOM_HEADERS = 20


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    errors = [
        FieldError("body", f"$.headers.{name}", "this header is set by the delivery and cannot be overridden")
        for name in headers
        if name.lower() in RESERVED_HEADERS or name.lower().startswith("webhook-")
    ]
    if len(headers) > MAX_CUSTOM_HEADERS:
        errors.append(FieldError("body", "$.headers", f"at most {MAX_CUSTOM_HEADERS} headers"))
    if errors:
        raise Unprocessable("Some custom headers are not allowed; see errors.", errors=errors)
    return headers


async def _check_url(url: str, policy: SsrfPolicy) -> None:
    try:
        await validate_url(url, policy)
    except UrlProblem as exc:
        problem = FieldError("body", "$.url", str(exc))
        raise Unprocessable(f"The URL is not allowed: {exc}.", errors=[problem]) from None


async def create_endpoint(conn: AsyncConnection, data: EndpointCreate, policy: SsrfPolicy) -> EndpointCreated:
    event_types = _check_event_types(data.event_types)
    await _check_url(data.url, policy)
    secret = new_secret()
    values: dict[str, Any] = {
        "url": data.url,
        "description": data.description,
        "event_types": event_types,
        "headers": _check_headers(data.headers),
        "enabled": data.enabled,
        "disabled_reason": None if data.enabled else "manual",
        "secret": secret,
    }
    row = (await conn.execute(insert(WebhookEndpoint).values(**values).returning(*_COLUMNS))).mappings().one()
    return EndpointCreated(**msgspec.structs.asdict(_to_read(row)), secret=secret)


async def get_endpoint(conn: AsyncConnection, endpoint_id: uuid.UUID) -> EndpointRead:
    row = (
        (await conn.execute(select(*_COLUMNS).where(WebhookEndpoint.id == endpoint_id)))
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    return _to_read(row)


async def list_endpoints(conn: AsyncConnection, *, limit: int, cursor: str | None) -> Page[EndpointRead]:
    query = select(*_COLUMNS).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id).limit(limit + 1)
    if cursor is not None:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        query = query.where(tuple_(WebhookEndpoint.created_at, WebhookEndpoint.id) > tuple_(*after))
    rows = (await conn.execute(query)).mappings().all()
    items = [_to_read(row) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].created_at, items[-1].id)) if len(rows) > limit else None
    return Page(data=items, next_cursor=next_cursor)


async def _update(conn: AsyncConnection, endpoint_id: uuid.UUID, values: dict[str, Any]) -> EndpointRead:
    row = (
        (
            await conn.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(**values, updated_at=func.now())
                .returning(*_COLUMNS)
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    return _to_read(row)


def _enabled_values(enabled: bool) -> dict[str, Any]:
    if enabled:
        return {"enabled": True, "disabled_reason": None, "failing_since": None}
    return {"enabled": False, "disabled_reason": "manual"}


async def update_endpoint(
    conn: AsyncConnection, endpoint_id: uuid.UUID, data: EndpointUpdate, policy: SsrfPolicy
) -> EndpointRead:
    values: dict[str, Any] = {}
    if data.url is not msgspec.UNSET:
        await _check_url(data.url, policy)
        values["url"] = data.url
    if data.description is not msgspec.UNSET:
        values["description"] = data.description
    if data.event_types is not msgspec.UNSET:
        values["event_types"] = _check_event_types(data.event_types)
    if data.headers is not msgspec.UNSET:
        values["headers"] = await _headers_update(conn, endpoint_id, _check_headers(data.headers))
    if data.enabled is not msgspec.UNSET:
        values.update(_enabled_values(data.enabled))
    if not values:
        return await get_endpoint(conn, endpoint_id)
    return await _update(conn, endpoint_id, values)


async def _headers_update(
    conn: AsyncConnection, endpoint_id: uuid.UUID, headers: dict[str, str]
) -> dict[str, str]:
    """The new headers, where a masked value (as read from the API) keeps the value stored for that name,
    so an endpoint read, edited and written back keeps its credentials."""
    if MASKED not in headers.values():
        return headers
    stored = await conn.scalar(select(WebhookEndpoint.headers).where(WebhookEndpoint.id == endpoint_id))
    if stored is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    unknown = [name for name, value in headers.items() if value == MASKED and name not in stored]
    if unknown:
        raise Unprocessable(
            "A masked value can only stand for a header the endpoint already has.",
            errors=[FieldError("body", f"$.headers.{name}", "no stored value to keep") for name in unknown],
        )
    return {name: stored[name] if value == MASKED else value for name, value in headers.items()}


async def set_enabled(conn: AsyncConnection, endpoint_id: uuid.UUID, enabled: bool) -> EndpointRead:
    """Enable (held deliveries resume, the failure clock restarts) or disable an endpoint."""
    endpoint = await _update(conn, endpoint_id, _enabled_values(enabled))
    if enabled:
        await notify_due(conn)
    return endpoint


async def delete_endpoint(conn: AsyncConnection, endpoint_id: uuid.UUID) -> None:
    """Delete an endpoint with its deliveries and attempt logs."""
    deleted = await conn.scalar(
        delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).returning(WebhookEndpoint.id)
    )
    if deleted is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")


async def rotate_secret(conn: AsyncConnection, endpoint_id: uuid.UUID) -> EndpointSecret:
    """New secret now; the current one keeps signing too for 24 hours, so receivers can switch over."""
    secret = new_secret()
    expires = await conn.scalar(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(
            previous_secret=WebhookEndpoint.secret,
            previous_secret_expires_at=func.now() + SECRET_OVERLAP,
            secret=secret,
            updated_at=func.now(),
        )
        .returning(WebhookEndpoint.previous_secret_expires_at)
    )
    if expires is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    return EndpointSecret(secret=secret, previous_valid_until=expires)


async def send_test(conn: AsyncConnection, endpoint_id: uuid.UUID) -> DeliveryRead:
    """Queue a signed ``webhook.test`` event to this endpoint only."""
    endpoint = await get_endpoint(conn, endpoint_id)
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled; enable it to send a test event.")
    event = OutgoingEvent(type="webhook.test", data=WebhookTestData(endpoint_id=endpoint_id))
    await publish(conn, [event], only_endpoint=endpoint_id)
    page = await list_deliveries(conn, endpoint_id=endpoint_id, message_id=event.id, limit=1)
    return page.data[0]
