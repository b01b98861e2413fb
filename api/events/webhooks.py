"""Ticket events → webhook messages: the one place the change feed feeds webhook delivery.

Called by :func:`api.events.service.record_events` in the transaction that makes the change, so a
webhook exists exactly when its change does. Event data already carries the ticket as it is after the
change (requester and assignee with names and emails), so no extra read is needed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from api.context import Context
from api.sla.schemas import SlaMetric
from api.sql import json_timestamp
from api.tickets import store
from api.webhooks import catalog
from api.webhooks.publish import OutgoingEvent, checked_body

if TYPE_CHECKING:
    from api.events.service import NewEvent


def event_documents(events: Sequence[NewEvent]) -> list[msgspec.Struct | None]:
    """The data document of each event, of its catalog type: what the change feed shows as ``data`` and
    what its webhook carries as ``data`` — one rendering for both. None for events of no catalog type
    (tests record bare events), whose ``data`` is stored as given."""
    return [
        _DATA[item.type](item) if item.type in _DATA and "ticket" in item.data else None for item in events
    ]


def webhook_bodies(
    events: Sequence[NewEvent], documents: Sequence[msgspec.Struct | None], occurred_at: dt.datetime
) -> list[bytes | None]:
    """The Standard Webhooks body of each event (None for events that make no payload).

    The recorder stores them with ``webhook-id`` = ``evt_<event id>``, the id in ``/v1/events``.
    """
    return [
        None
        if document is None
        else checked_body(OutgoingEvent(id="", type=item.type, data=document, occurred_at=occurred_at))
        for item, document in zip(events, documents, strict=True)
    ]


def created_data_sql(actor: str) -> str:
    """SQL rendering the data document of ``ticket.created`` (a ``TicketEventData`` without changes) from
    the aliases of ``store.JOINS``; ``actor`` is an SQL expression for the json of ``catalog.Actor``."""
    return f"json_build_object('ticket', {store.SUMMARY_JSON}, 'changes', '[]'::json, 'actor', {actor})"


def webhook_body_sql(event_type: str, occurred_at: str, data: str) -> str:
    """SQL rendering the Standard Webhooks body around an event's data document (SQL expressions)."""
    timestamp = json_timestamp(occurred_at)
    envelope = f"json_build_object('type', {event_type}::text, 'timestamp', {timestamp}, 'data', {data})"
    return f"convert_to({envelope}::text, 'UTF8')"


def actor_json(ctx: Context) -> str:
    """The JSON of ``catalog.Actor`` for ``ctx``, as :func:`webhook_bodies` embeds it."""
    actor = ctx.actor
    return _encoder.encode(catalog.Actor(type=actor.type, id=actor.id, name=actor.name)).decode()


_encoder = msgspec.json.Encoder()


def _ticket(item: NewEvent) -> catalog.TicketSummary:
    return msgspec.convert(item.data["ticket"], catalog.TicketSummary, strict=False)


def _actor(item: NewEvent) -> catalog.Actor:
    actor = item.ctx.actor
    return catalog.Actor(type=actor.type, id=actor.id, name=actor.name)


def _changes(item: NewEvent) -> list[catalog.FieldChange]:
    return [catalog.FieldChange(field=c.field, previous=c.previous, current=c.current) for c in item.changes]


def _person(value: Any) -> catalog.Person | None:
    return None if value is None else msgspec.convert(value, catalog.Person, strict=False)


def _ticket_event(item: NewEvent) -> catalog.TicketEventData:
    return catalog.TicketEventData(ticket=_ticket(item), changes=_changes(item), actor=_actor(item))


def _assigned(item: NewEvent) -> catalog.TicketAssignedData:
    ticket = _ticket(item)
    return catalog.TicketAssignedData(
        ticket=ticket,
        previous_assignee=_person(item.data.get("previous_assignee")),
        assignee=ticket.assignee,
        changes=_changes(item),
        actor=_actor(item),
    )


def _commented(item: NewEvent) -> catalog.TicketCommentedData:
    comment = item.data["comment"]
    return catalog.TicketCommentedData(
        ticket=_ticket(item),
        comment=catalog.CommentSummary(
            id=comment["id"],
            author=_actor(item),
            body=comment["body"],
            public=comment["public"],
            created_at=msgspec.convert(comment["created_at"], dt.datetime, strict=False),
        ),
    )


def _resolved(item: NewEvent) -> catalog.TicketResolvedData:
    data = item.data
    return catalog.TicketResolvedData(
        ticket=_ticket(item),
        resolved_by=_person(data.get("resolving_agent")),
        resolved_at=msgspec.convert(data["resolved_at"], dt.datetime, strict=False),
        time_to_resolution_seconds=round(data["time_to_resolution_seconds"]),
        previous_status=data["previous_status"],
        changes=_changes(item),
        sla_outcome=msgspec.convert(data.get("sla_outcome"), catalog.SlaOutcome | None, strict=False),
    )


def _sla(item: NewEvent) -> catalog.SlaEventData:
    data = item.data
    return catalog.SlaEventData(
        ticket=_ticket(item),
        policy_id=data["policy_id"],
        policy_version=data["policy_version"],
        metric=msgspec.convert(data["metric"], SlaMetric, strict=False),
    )


def _sla_updated(item: NewEvent) -> catalog.SlaUpdatedData:
    data = item.data
    return catalog.SlaUpdatedData(
        ticket=_ticket(item),
        previous=msgspec.convert(data["previous"], catalog.SlaPolicyRef | None, strict=False),
        current=msgspec.convert(data["current"], catalog.SlaPolicyRef | None, strict=False),
        reason=data["reason"],
        metrics=msgspec.convert(data["metrics"], list[SlaMetric], strict=False),
    )


def _change_refused(item: NewEvent) -> catalog.TicketChangeRefusedData:
    data = item.data
    return catalog.TicketChangeRefusedData(
        ticket=_ticket(item),
        changes=_changes(item),
        comment=data.get("comment"),
        rule=data["rule"],
        detail=data["detail"],
        reason=data["reason"],
        actor=_actor(item),
    )


def _rule_event(data_type: type[msgspec.Struct]) -> Callable[[NewEvent], msgspec.Struct]:
    """Rule events (``ticket.escalated``, ``rule.triggered``, ``ticket.follow_up_due``): the event's data
    is the document, with ``ticket`` (``store.summary``) and ``rule`` (id, name, version)."""

    def document(item: NewEvent) -> msgspec.Struct:
        return msgspec.convert(item.data, data_type, strict=False)

    return document


_DATA: dict[str, Callable[[NewEvent], msgspec.Struct]] = {
    "ticket.created": _ticket_event,
    "ticket.updated": _ticket_event,
    "ticket.status_changed": _ticket_event,
    "ticket.reopened": _ticket_event,
    "ticket.closed": _ticket_event,
    "ticket.assigned": _assigned,
    "ticket.commented": _commented,
    "ticket.resolved": _resolved,
    "ticket.change_refused": _change_refused,
    "sla.warning": _sla,
    "sla.breached": _sla,
    "sla.updated": _sla_updated,
    "ticket.escalated": _rule_event(catalog.TicketEscalatedData),
    "rule.triggered": _rule_event(catalog.RuleTriggeredData),
    "ticket.follow_up_due": _rule_event(catalog.TicketFollowUpDueData),
}
