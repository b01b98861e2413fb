"""Wire types of the webhooks API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

EventTypeName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["ticket.resolved"])]
HeaderName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
# No control characters (tab allowed): no header injection, nothing PostgreSQL cannot store.
HeaderValue = Annotated[str, msgspec.Meta(max_length=1000, pattern=r"^[^\x00-\x08\x0a-\x1f\x7f]*$")]
Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000, examples=["https://example.com/hooks"])]
Description = Annotated[str, msgspec.Meta(max_length=500)]
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class EndpointCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new endpoint. Without ``event_types`` (or with null) it receives every event type."""

    url: Url
    description: Description = ""
    event_types: list[EventTypeName] | None = None
    headers: dict[HeaderName, HeaderValue] = {}
    """Extra request headers, e.g. an authorization token the receiver expects."""
    enabled: bool = True


class EndpointUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; omitted fields keep their value."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    event_types: list[EventTypeName] | msgspec.UnsetType | None = msgspec.UNSET
    headers: dict[HeaderName, HeaderValue] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class EndpointRead(msgspec.Struct, kw_only=True):
    """An endpoint, without its signing secret."""

    id: uuid.UUID
    url: str
    description: str
    event_types: list[str] | None
    headers: dict[str, str]
    """Custom header names; values are write-only and shown as ``[redacted]`` (send that value back in an
    update to keep the stored one)."""
    enabled: bool
    disabled_reason: str | None
    """Why the endpoint was disabled: ``manual``, ``gone`` (it answered 410) or ``failing``."""
    failing_since: dt.datetime | None
    secret_rotated_until: dt.datetime | None
    """While set, deliveries are signed with the previous secret as well, until this time."""
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointCreated(EndpointRead, kw_only=True):
    """A new endpoint; ``secret`` is shown this once."""

    secret: str


class EndpointSecret(msgspec.Struct, kw_only=True):
    """A new signing secret, shown this once; the previous one signs too until ``previous_valid_until``."""

    secret: str
    previous_valid_until: dt.datetime


class EventTypeRead(msgspec.Struct, kw_only=True):
    name: str
    description: str
    schema: dict[str, Any]
    """JSON Schema of the event's ``data``."""


class DeliveryRead(msgspec.Struct, kw_only=True):
    """One message owed to one endpoint. ``message_id`` is the ``webhook-id`` header (dedupe key)."""

    id: int
    endpoint_id: uuid.UUID
    message_id: str
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class AttemptRead(msgspec.Struct, kw_only=True):
    id: int
    delivery_id: int
    number: int
    started_at: dt.datetime
    duration_ms: float
    succeeded: bool
    status_code: int | None
    error_class: str | None
    """``http_status``, ``timeout``, ``connection``, ``ssrf_refused``, ``invalid_url`` or null."""
    error: str | None
    request_headers: dict[str, str]
    """The headers sent; custom header values are shown as ``[redacted]``."""
    response_body: str | None
    """The first 4 KB of the response body."""
    worker: str | None
    """The worker process (``host:pid``) that made the attempt."""


class RecoverRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Re-send the endpoint's failed deliveries created in ``[since, until)``."""

    since: dt.datetime
    until: dt.datetime | None = None


class RecoverResult(msgspec.Struct, kw_only=True):
    requeued: int


class EndpointHealth(msgspec.Struct, kw_only=True):
    """Attempts to the endpoint over the last 24 hours."""

    endpoint_id: uuid.UUID
    window_start: dt.datetime
    attempts: int
    succeeded: int
    success_rate: float | None
    p50_ms: float | None
    p99_ms: float | None
    pending: int
    last_error: str | None
    last_error_at: dt.datetime | None
    last_success_at: dt.datetime | None
