"""The seam's pure part: hooks see each other's columns, own their timer kinds, and the ticket's hooks."""

from __future__ import annotations

import ast
import datetime as dt
import pathlib
from collections.abc import Iterator

import pytest

from api.context import SYSTEM
from api.events.service import NewEvent
from api.features import HOOKS
from api.tickets import hooks
from api.tickets.seam import Config, Effects, Hook, HookContractError, Registry, TicketChange, run_hooks
from api.webhooks.catalog import CATALOG

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CONFIG = Config(Registry(()), {hooks.AUTO_CLOSE: dt.timedelta(days=4)})


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
    first = Hook(name="first", run=lambda change: Effects(fields={"score": 3}), columns={"score": "integer"})
    second = Hook(name="second", run=lambda change: seen.append(change.after["score"]) or Effects())
    outcome = run_hooks(_change(_ticket(), _ticket()), [first, second])
    assert seen == [3]
    assert outcome.after["score"] == 3


def test_a_hook_cannot_declare_timers_of_kinds_it_does_not_own() -> None:
    rogue = Hook(name="rogue", run=lambda change: Effects(timers={("auto_close", ""): AT}))
    with pytest.raises(ValueError, match="does not declare"):
        run_hooks(_change(_ticket(), _ticket()), [rogue])


@pytest.mark.parametrize("status", ["new", "open", "pending", "on_hold", "closed"])
def test_auto_close_timer_exists_only_while_resolved(status: str) -> None:
    outcome = run_hooks(_change(_ticket(), _ticket(status=status)), [hooks.AUTO_CLOSE_HOOK])
    assert outcome.owned_timer_kinds == {"auto_close"}
    assert outcome.timers == {}  # so the writer deletes a live one


def test_auto_close_timer_falls_due_after_the_configured_delay() -> None:
    resolved = _ticket(status="resolved", resolved_at=AT)
    outcome = run_hooks(_change(_ticket(), resolved), [hooks.AUTO_CLOSE_HOOK])
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


# The registry: what hooks own, checked ------------------------------------------------------------------


def _registry(*hooks_: Hook) -> Registry:
    return Registry(hooks_)


def test_a_hook_cannot_set_a_column_it_does_not_own() -> None:
    rogue = Hook(name="rogue", run=lambda change: Effects(fields={"sla_breached": True}))
    with pytest.raises(HookContractError, match="columns it does not declare"):
        _registry(rogue).run(_change(_ticket(), _ticket()))


def test_a_hook_cannot_record_an_event_type_it_does_not_declare() -> None:
    def run(change: TicketChange) -> Effects:
        return Effects(events=[NewEvent(type="ticket.escalated", ticket_id=7, ctx=SYSTEM)])

    with pytest.raises(HookContractError, match="event types it does not declare"):
        _registry(Hook(name="rogue", run=run)).run(_change(_ticket(), _ticket()))


@pytest.mark.parametrize("column", ["status", "priority", "assignee_id", "version", "updated_at"])
def test_no_hook_owns_a_column_the_lifecycle_or_the_writer_sets(column: str) -> None:
    """A feature changes the ticket's own fields with a follow-on change, through the lifecycle."""
    with pytest.raises(HookContractError, match="follow-on change"):
        _registry(Hook(name="rogue", run=lambda change: Effects(), columns={column: "text"}))


def test_two_hooks_cannot_own_one_column_or_timer_kind() -> None:
    a = Hook(name="a", run=lambda change: Effects(), columns={"x": "text"}, timer_kinds=frozenset({"k"}))
    with pytest.raises(HookContractError, match="two hooks"):
        _registry(a, Hook(name="b", run=lambda change: Effects(), columns={"x": "text"}))
    with pytest.raises(HookContractError, match="owned by a and b"):
        _registry(a, Hook(name="b", run=lambda change: Effects(), timer_kinds=frozenset({"k"})))


def test_declared_event_types_must_be_in_the_catalog() -> None:
    loud = Hook(name="loud", run=lambda change: Effects(), event_types=frozenset({"ticket.shouted"}))
    with pytest.raises(HookContractError, match=r"ticket\.shouted"):
        Registry([loud], known_event_types=CATALOG)


def test_the_writer_derives_what_it_writes_from_the_registered_hooks() -> None:
    assert dict(HOOKS.columns) == {"sla": "jsonb", "sla_due_at": "timestamptz", "sla_breached": "boolean"}
    assert {"status", "priority", "sla"} <= set(HOOKS.writable)
    assert HOOKS.timer_kinds == {"auto_close", "sla", "sla_warning", "sla_breach"}
    assert HOOKS.owner("auto_close").name == "auto-close"  # type: ignore[union-attr]
    assert HOOKS.owner("sla").actor.actor.name == "sla"  # type: ignore[union-attr]
    assert HOOKS.defaults["sla_breached"] is False


def test_hooks_add_data_to_events_another_hook_records() -> None:
    """``ticket.resolved`` carries the SLA outcome without the events hook knowing the SLA."""
    extra = Hook(
        name="extra",
        run=lambda change: Effects(event_data={"ticket.resolved": {"sla_outcome": {"result": "met"}}}),
    )
    before = _ticket(assignee_id="a1", assignee_name="Bo", assignee_email="bo@example.com")
    after = {**before, "status": "resolved", "resolved_at": AT}
    events = _registry(extra, hooks.TICKET_EVENTS).run(_change(before, after)).events
    assert events[1].type == "ticket.resolved"
    assert events[1].data["sla_outcome"] == {"result": "met"}


def _imports(path: pathlib.Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)  # from api import features
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_the_ticket_package_imports_no_feature() -> None:
    """Features import the seam, never the reverse: nothing under api/tickets imports a feature package
    or the composition root (but the SLA document's wire type, and the HTTP routes, which render the
    SLA's time left and explanation)."""
    features = ("api.sla", "api.features", "api.escalations", "api.rules")
    offenders = [
        f"{path.name}: {name}"
        for path in sorted(pathlib.Path("api/tickets").glob("*.py"))
        if path.name != "routes.py"
        for name in _imports(path)
        if name.startswith(features) and not name.startswith("api.sla.schemas")
    ]
    assert offenders == []
