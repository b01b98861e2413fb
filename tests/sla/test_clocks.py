"""SLA clock semantics (pure): what starts, pauses, fulfils and breaches each metric."""

from __future__ import annotations

import datetime as dt

from api.sla import clocks
from api.sla.clocks import CALENDAR_TIME, Facts, Target, step

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
# Targets in seconds: an hour (warned ten minutes ahead), half an hour, two hours, four hours.
TARGETS = {
    "first_response": Target(3600, False, 600),
    "next_response": Target(1800, False),
    "periodic_update": Target(7200, False),
    "resolution": Target(14400, False),
}


def _clocks(_business: bool) -> clocks.Clock:
    return CALENDAR_TIME


def _at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _step(metrics, minutes, status="open", previous="open", targets=TARGETS, **facts):
    return step(
        metrics,
        targets,
        _clocks,
        Facts(at=_at(minutes), created_at=T0, status=status, previous_status=previous, **facts),
    )


def test_creation_starts_first_response_and_resolution_only():
    metrics, moments = _step({}, 0, status="new", previous=None)
    assert set(metrics) == {"first_response", "resolution"}
    assert metrics["first_response"].due_at == _at(60)
    assert metrics["resolution"].due_at == _at(240)
    assert moments == []


def test_an_internal_note_does_not_fulfil_first_response_a_public_agent_reply_does():
    metrics, _ = _step({}, 0, status="new", previous=None)
    noted, _ = _step(metrics, 5)  # no reply facts: an internal note
    assert noted["first_response"].state == "running"
    replied, _ = _step(noted, 20, public_agent_reply=True)
    assert replied["first_response"].state == "fulfilled"
    assert replied["first_response"].fulfilled_at == _at(20)
    assert replied["periodic_update"].due_at == _at(140)


def test_resolution_pauses_while_pending_and_continues_from_consumed_time():
    metrics, _ = _step({}, 0, status="new", previous=None)
    pending, _ = _step(metrics, 60, status="pending")
    assert pending["resolution"].state == "paused"
    assert pending["resolution"].due_at is None
    assert pending["resolution"].consumed_seconds == 3600
    resumed, _ = _step(pending, 600, status="open", previous="pending")  # 9 h later
    assert resumed["resolution"].due_at == _at(600 + 180)


def test_reopen_continues_resolution_from_the_time_already_consumed():
    metrics, _ = _step({}, 0, status="new", previous=None)
    resolved, _ = _step(metrics, 100, status="resolved")
    assert resolved["resolution"].state == "fulfilled"
    reopened, _ = _step(resolved, 1000, status="open", previous="resolved", public_customer_message=True)
    assert reopened["resolution"].state == "running"
    assert reopened["resolution"].due_at == _at(1000 + 140)
    assert reopened["next_response"].due_at == _at(1030)


def test_next_response_is_one_cycle_per_customer_burst():
    metrics, _ = _step({}, 0, status="new", previous=None)
    metrics, _ = _step(metrics, 10, public_agent_reply=True)
    metrics, _ = _step(metrics, 20, public_customer_message=True)
    metrics, _ = _step(metrics, 25, public_customer_message=True)  # same burst: unchanged
    assert metrics["next_response"].cycle == 1
    assert metrics["next_response"].due_at == _at(50)
    metrics, _ = _step(metrics, 40, public_agent_reply=True)
    assert metrics["next_response"].state == "fulfilled"
    metrics, _ = _step(metrics, 70, public_customer_message=True)
    assert (metrics["next_response"].cycle, metrics["next_response"].due_at) == (2, _at(100))


def test_breach_is_recorded_once_at_the_due_instant_and_survives_closing():
    metrics, _ = _step({}, 0, status="new", previous=None)
    warned, moments = _step(metrics, 51)
    assert [(m.kind, m.metric) for m in moments] == [("warning", "first_response")]
    breached, moments = _step(warned, 61)
    assert [(m.kind, m.metric) for m in moments] == [("breached", "first_response")]
    assert breached["first_response"].breached_at == _at(60)
    again, moments = _step(breached, 62)
    assert moments == []
    closed, _ = _step(again, 70, status="resolved")
    assert closed["first_response"].breached_at == _at(60)
    assert closed["first_response"].state == "fulfilled"


def test_no_moment_for_a_cycle_fulfilled_or_paused_before_it():
    metrics, _ = _step({}, 0, status="new", previous=None)
    replied, _ = _step(metrics, 30, public_agent_reply=True)
    _, moments = _step(replied, 61)
    assert "first_response" not in [m.metric for m in moments]
    pending, _ = _step(metrics, 100, status="pending")
    _, moments = _step(pending, 300, status="pending")
    assert "resolution" not in [m.metric for m in moments]


def test_a_target_change_keeps_consumed_time_and_counts_the_rest_from_then():
    metrics, _ = _step({}, 0, status="new", previous=None)
    urgent = {**TARGETS, "resolution": Target(7200, False)}
    changed, _ = _step(metrics, 100, targets=urgent)
    assert changed["resolution"].due_at == _at(120)
    later = {**TARGETS, "resolution": Target(28800, False)}
    relaxed, _ = _step(changed, 110, targets=later)
    assert relaxed["resolution"].due_at == _at(480)


def test_a_later_due_instant_makes_a_breached_metric_run_again():
    metrics, _ = _step({}, 0, status="new", previous=None)
    breached, _ = _step(metrics, 250)
    assert breached["resolution"].state == "breached"
    relaxed, _ = _step(breached, 251, targets={**TARGETS, "resolution": Target(36000, False)})
    assert relaxed["resolution"].state == "running"
    assert relaxed["resolution"].due_at == _at(600)


def test_timers_declared_are_the_moments_still_ahead():
    metrics, _ = _step({}, 0, status="new", previous=None)
    assert clocks.next_moments(metrics) == {
        ("warning", "first_response"): _at(50),
        ("breached", "first_response"): _at(60),
        ("breached", "resolution"): _at(240),
    }


def test_pauses_and_earlier_cycles_are_recorded_for_the_explanation():
    metrics, _ = _step({}, 0, status="new", previous=None)
    metrics, _ = _step(metrics, 10, status="pending")
    metrics, _ = _step(metrics, 30, status="open", previous="pending")
    metrics, _ = _step(metrics, 40, status="resolved")
    metrics, _ = _step(metrics, 50, status="open", previous="resolved")
    assert metrics["resolution"].pauses == (
        clocks.Pause(_at(10), _at(30), "pending"),
        clocks.Pause(_at(40), _at(50), "resolved"),
    )
    assert metrics["resolution"].consumed(CALENDAR_TIME, _at(60)) == dt.timedelta(minutes=30)
    metrics, _ = _step(metrics, 70, public_agent_reply=True)
    metrics, _ = _step(metrics, 80, public_agent_reply=True)
    periodic = metrics["periodic_update"]
    assert periodic.cycle == 2
    assert periodic.earlier == (clocks.EarlierCycle(1, 7200, _at(70), _at(80), None),)
