"""Wire types for events: a ticket's history and the global change feed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec

from api.pagination import Page

EventType = Literal[
    "ticket.created",
    "ticket.updated",
    "ticket.assigned",
    "ticket.commented",
    "ticket.status_changed",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.closed",
    "ticket.change_refused",
    "sla.warning",
    "sla.breached",
    "sla.updated",
    "ticket.escalated",
    "ticket.follow_up_due",
    "rule.triggered",
]


class Change(msgspec.Struct, frozen=True):
    """One field that changed: its value before and after."""

    field: str
    previous: Any
    current: Any


class ActorRead(msgspec.Struct, kw_only=True):
    """Who made the change: an agent, a customer, an integration (API key without agent), the system, or
    a rule (``id``: ``<rule id>@<version>``)."""

    type: Literal["agent", "customer", "integration", "system", "rule"]
    id: str | None
    name: str | None
    api_key_id: uuid.UUID | None


class EventRead(msgspec.Struct, kw_only=True):
    """A recorded change. ``id`` is the global sequence number."""

    id: int
    type: str
    ticket_id: int | None
    actor: ActorRead
    request_id: str | None
    changes: list[Change]
    data: dict[str, Any]
    created_at: dt.datetime


class EventPage(Page[EventRead]):
    """A page of a ticket's history, oldest first."""


class EventFeedPage(msgspec.Struct, kw_only=True):
    """A page of the change feed. Always poll again with ``next_cursor``; it is never null."""

    data: list[EventRead]
    next_cursor: str
