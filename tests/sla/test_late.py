"""Late policies, directly: which targets a change makes apply late, and the clock facts read from a
ticket's comments and status changes."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from api.sla.clocks import Facts, Target
from api.sla.history import facts_of
from api.sla.hook import SlaConfig, late_targets
from api.sla.policies import Policy, decode_targets
from api.sla.schemas import Conditions, TicketSla

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
TARGETS = decode_targets(
    b'{"urgent": {"first_response": {"seconds": 3600}, "next_response": {"seconds": 600}},'
    b' "normal": {"resolution": {"seconds": 7200}}}'
)
POLICY = Policy(id=uuid.uuid4(), version=2, calendar_id=None, conditions=Conditions(), targets=TARGETS)
CONFIG = SlaConfig(policies=(POLICY,))


def _ticket(priority: str = "urgent", sla: TicketSla | None = None) -> dict:
    return {
        "id": 7,
        "priority": priority,
        "status": "open",
        "tags": [],
        "sla": None if sla is None else msgspec.json.encode(sla).decode(),
    }


def _sla(version: int, measured: list | None) -> TicketSla:
    return TicketSla(
        policy_id=POLICY.id,
        policy_version=version,
        calendar_id=None,
        calendar_version=None,
        measured=measured,
        metrics=[],  # nothing started (as if first response were missing too, to see what is late)
    )


def test_a_new_ticket_has_no_past_and_a_ticket_without_state_has_every_target_late():
    assert late_targets(CONFIG, None, _ticket()) == {}
    assert set(late_targets(CONFIG, _ticket(), _ticket())) == {"first_response", "next_response"}


def test_a_metric_measured_before_is_not_late_whatever_the_policy_version_says():
    """A rename makes a new version: a ticket whose next response has not started yet must not read its
    history on every later change."""
    sla = _sla(1, ["first_response", "next_response"])
    assert late_targets(CONFIG, _ticket(sla=sla), _ticket(sla=sla)) == {}
    # A target the ticket was not measured on is late: a policy edit added it, or a priority change.
    sla = _sla(1, ["first_response"])
    assert late_targets(CONFIG, _ticket(sla=sla), _ticket(sla=sla)) == {"next_response": Target(600, False)}
    changed = _ticket("normal", sla)
    assert late_targets(CONFIG, _ticket(sla=sla), changed) == {"resolution": Target(7200, False)}


def test_a_document_without_measured_falls_back_to_the_policy_version_and_priority():
    same = _sla(2, None)
    assert late_targets(CONFIG, _ticket(sla=same), _ticket(sla=same)) == {}
    older = _sla(1, None)
    assert set(late_targets(CONFIG, _ticket(sla=older), _ticket(sla=older))) == {
        "first_response",
        "next_response",
    }


def _row(minutes: float, author: str | None = None, previous: str | None = None, current: str | None = None):
    return {
        "at": T0 + dt.timedelta(minutes=minutes),
        "author_type": author,
        "previous": previous,
        "current": current,
    }


def test_history_rows_become_facts_one_per_change():
    rows = [
        _row(0, "customer"),  # the message the ticket was created with
        _row(5, "agent"),
        _row(5, None, "new", "open"),  # the same change: the first reply opened the ticket
        _row(9, None, "open", "pending"),
        _row(20, "customer"),
        _row(20, None, "pending", "open"),  # a customer reply reopened it
    ]
    facts = facts_of(T0, "open", rows)
    assert facts == (
        Facts(at=T0, created_at=T0, status="new", previous_status=None),
        Facts(
            at=T0 + dt.timedelta(minutes=5),
            created_at=T0,
            status="open",
            previous_status="new",
            public_agent_reply=True,
        ),
        Facts(at=T0 + dt.timedelta(minutes=9), created_at=T0, status="pending", previous_status="open"),
        Facts(
            at=T0 + dt.timedelta(minutes=20),
            created_at=T0,
            status="open",
            previous_status="pending",
            public_customer_message=True,
        ),
    )
    # No status change recorded: the ticket was created with the status it has.
    assert facts_of(T0, "pending", [])[0].status == "pending"
