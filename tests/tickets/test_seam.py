"""The seam's pure part: hooks see each other's columns, own their timer kinds, and the ticket's hooks."""

from __future__ import annotations

import datetime as dt

import pytest

from api.context import SYSTEM
from api.tickets import hooks
from api.tickets.seam import Config, Effects, Hook, TicketChange, run_hooks

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CONFIG = Config(auto_close_after=dt.timedelta(days=4))


def _ticket(**overrides: object) -> dict[str, object]:
    ticket: dict[str, object] = {
        "id": 7,
        "subject": "Printer on fire",
        "status": "open",
        "priority": "normal",
        "channel": "api",
        "tags": [],
        "external_ref": None,
        "follow_up_of": None,
        "version": 2,
        "created_at": AT - dt.timedelta(hours=1),
        "updated_at": AT,
        "first_agent_reply_at": None,
        "resolved_at": None,
        "closed_at": None,
        "requester_id": "c1",
        "requester_name": "Ann",
        "requester_email": "ann@example.com",
        "assignee_id": None,
        "assignee_name": None,
        "assignee_email": None,
        "group_id": None,
        "group_name": None,
    }
    ticket.update(overrides)
    return ticket


def _change(before: dict[str, object] | None, after: dict[str, object]) -> TicketChange:
    return TicketChange(cause="updated", at=AT, ctx=SYSTEM, before=before, after=after, config=CONFIG)


def test_later_hooks_see_earlier_hooks_columns() -> None:
    seen = []
    first = Hook("first", lambda change: Effects(fields={"priority": "urgent"}))
    second = Hook("second", lambda change: seen.append(change.after["priority"]) or Effects())
    outcome = run_hooks(_change(_ticket(), _ticket()), [first, second])
    assert seen == ["urgent"]
    assert outcome.after["priority"] == "urgent"


def test_a_hook_cannot_declare_timers_of_kinds_it_does_not_own() -> None:
    rogue = Hook("rogue", lambda change: Effects(timers={("auto_close", ""): AT}))
    with pytest.raises(ValueError, match="does not own"):
        run_hooks(_change(_ticket(), _ticket()), [rogue])


@pytest.mark.parametrize("status", ["new", "open", "pending", "on_hold", "closed"])
def test_auto_close_timer_exists_only_while_resolved(status: str) -> None:
    outcome = run_hooks(_change(_ticket(), _ticket(status=status)), [hooks.AUTO_CLOSE_TIMER])
    assert outcome.owned_timer_kinds == {"auto_close"}
    assert outcome.timers == {}  # so the writer deletes a live one


def test_auto_close_timer_falls_due_after_the_configured_delay() -> None:
    resolved = _ticket(status="resolved", resolved_at=AT)
    outcome = run_hooks(_change(_ticket(), resolved), [hooks.AUTO_CLOSE_TIMER])
    assert outcome.timers == {("auto_close", ""): AT + dt.timedelta(days=4)}


def test_resolving_records_status_events_with_the_resolver() -> None:
    before = _ticket(assignee_id="a1", assignee_name="Bo", assignee_email="bo@example.com")
    after = {**before, "status": "resolved", "resolved_at": AT}
    change = TicketChange(
        cause="updated",
        at=AT,
        ctx=SYSTEM,
        before=before,
        after=after,
        config=CONFIG,
        resolver={"id": "a1", "name": "Bo", "email": "bo@example.com"},
    )
    events = run_hooks(change, [hooks.TICKET_EVENTS]).events
    assert [e.type for e in events] == ["ticket.status_changed", "ticket.resolved"]
    assert events[1].data["resolving_agent"] == {"id": "a1", "name": "Bo", "email": "bo@example.com"}
    assert events[1].data["time_to_resolution_seconds"] == 3600.0


def test_an_unchanged_ticket_records_no_events() -> None:
    assert run_hooks(_change(_ticket(), _ticket()), [hooks.TICKET_EVENTS]).events == []
