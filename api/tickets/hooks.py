"""The ticket's own hooks: the events that describe a change, and auto-close.

Pure functions over a :class:`~api.tickets.seam.TicketChange` (see seam.py). Features (the SLA clocks,
``api/sla/hook.py``) are hooks too; the composition root (``api/features.py``) lists them all in order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from api.context import Actor, Context
from api.events.schemas import Change
from api.events.service import NewEvent
from api.tickets import lifecycle, store
from api.tickets.seam import Effects, FollowOn, Hook, TicketChange

AUTO_CLOSE = "auto_close"
"""The auto-close timer's kind, and the name of its configuration (the delay) in ``seam.Config``."""
AUTO_CLOSE_ACTOR = Context(actor=Actor("system", None, "auto-close"), request_id=None, agent_id=None)

# Columns whose change is a `ticket.updated` event (assignee and status have their own events).
UPDATED_FIELDS = ("subject", "priority", "group_id", "tags", "external_ref")


def _wire(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def ticket_events(change: TicketChange) -> Effects:
    """``ticket.created``/``.commented``/``.updated``/``.assigned``/``.status_changed`` and the specific
    status events (``.resolved``, ``.closed``, ``.reopened``)."""
    ctx, before, after = change.ctx, change.before, change.after
    ticket_id = after["id"]
    if before is None:
        # Ticket creation renders this event's data and webhook body in its INSERT statement.
        return Effects(events=[NewEvent(type="ticket.created", ticket_id=ticket_id, ctx=ctx)])
    summary = store.summary(after)
    events = []
    if change.comment is not None:
        comment = change.comment
        data: dict[str, Any] = {
            "ticket": summary,
            "comment": {
                "id": comment.id,
                "public": comment.public,
                "author_type": comment.author_type,
                "author_id": comment.author_id,
                "body": comment.body,
                "created_at": comment.created_at,
            },
        }
        events.append(NewEvent(type="ticket.commented", ticket_id=ticket_id, ctx=ctx, data=data))
    updated = [Change(f, _wire(before[f]), _wire(after[f])) for f in UPDATED_FIELDS if change.changed(f)]
    if updated:
        events.append(
            NewEvent(
                type="ticket.updated", ticket_id=ticket_id, ctx=ctx, changes=updated, data={"ticket": summary}
            )
        )
    if change.changed("assignee_id"):
        events.append(
            NewEvent(
                type="ticket.assigned",
                ticket_id=ticket_id,
                ctx=ctx,
                changes=[Change("assignee_id", _wire(before["assignee_id"]), _wire(after["assignee_id"]))],
                data={"ticket": summary, "previous_assignee": store.assignee(before)},
            )
        )
    if change.changed("status"):
        changes = [Change("status", before["status"], after["status"])]
        events.append(
            NewEvent(
                type="ticket.status_changed",
                ticket_id=ticket_id,
                ctx=ctx,
                changes=changes,
                data={"ticket": summary},
            )
        )
        specific = _status_event(before["status"], after["status"])
        if specific is not None:
            data = {"ticket": summary, "previous_status": before["status"]}
            if specific == "ticket.resolved":
                data.update(_resolution(change))
            events.append(NewEvent(type=specific, ticket_id=ticket_id, ctx=ctx, changes=changes, data=data))
    return Effects(events=events)


def _status_event(previous: str, current: str) -> str | None:
    if current == lifecycle.RESOLVED:
        return "ticket.resolved"
    if current == lifecycle.CLOSED:
        return "ticket.closed"
    if lifecycle.is_reopen(previous, current):
        return "ticket.reopened"
    return None


def _resolution(change: TicketChange) -> dict[str, Any]:
    """What a thank-you webhook needs: who resolved it, when, and how long it took."""
    after = change.after
    resolver = change.resolver
    agent = None if resolver is None else {k: _wire(resolver[k]) for k in ("id", "name", "email")}
    resolved_at: dt.datetime = after["resolved_at"]
    return {
        "resolving_agent": agent,
        "resolved_at": resolved_at.isoformat(),
        "time_to_resolution_seconds": (resolved_at - after["created_at"]).total_seconds(),
    }


def auto_close(change: TicketChange) -> Effects:
    """A resolved ticket closes the configured delay after it was resolved; any other status cancels it.

    The timer declares the instant; when it fires, closing is a follow-on change by auto-close (so the
    lifecycle, the hooks and the history treat it as any other close). Were the close refused, the
    timer's trace (same instant, still declared) keeps it from firing again until the ticket is resolved
    anew."""
    after = change.after
    if after["status"] != lifecycle.RESOLVED:
        return Effects()
    due = after["resolved_at"] + change.config.value(AUTO_CLOSE)
    effects = Effects(timers={(AUTO_CLOSE, ""): due})
    timer = change.timer
    if timer is not None and timer.kind == AUTO_CLOSE:  # its instant, as declared when it was armed
        effects.follow_ons.append(
            FollowOn(ctx=AUTO_CLOSE_ACTOR, changes={"status": lifecycle.CLOSED}, reason="auto-close")
        )
    return effects


TICKET_EVENT_TYPES = frozenset(
    {
        "ticket.created",
        "ticket.commented",
        "ticket.updated",
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.resolved",
        "ticket.closed",
        "ticket.reopened",
    }
)
TICKET_EVENTS = Hook(name="ticket-events", run=ticket_events, event_types=TICKET_EVENT_TYPES)
AUTO_CLOSE_HOOK = Hook(
    name="auto-close", run=auto_close, timer_kinds=frozenset({AUTO_CLOSE}), actor=AUTO_CLOSE_ACTOR
)
