"""SLA clock semantics (pure): what starts, pauses, fulfils and breaches each metric."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from api.calendars import businesstime
from api.sla import clocks
from api.sla.clocks import CALENDAR_TIME, Facts, Target, step
from api.sla.hook import BusinessTime

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


# -- The metrics added with seconds, cancelled cycles, late policies, one breach per cycle ---------------

ALL = {
    "first_response": Target(3600, False, 600),
    "next_response": Target(1800, False, 300),
    "periodic_update": Target(2700, False),
    "periodic_update_unpaused": Target(2700, False, 60),
    "requester_wait": Target(10800, False),
    "resolution": Target(14400, False),
    "total_resolution": Target(28800, False, 1800),
}


def test_requester_wait_pauses_only_while_pending_and_total_resolution_never():
    metrics, _ = _step({}, 0, status="new", previous=None, targets=ALL)
    metrics, _ = _step(metrics, 10, public_agent_reply=True, targets=ALL)
    on_hold, _ = _step(metrics, 20, status="on_hold", targets=ALL)
    states = {name: m.state for name, m in on_hold.items()}
    assert states == {
        "first_response": "fulfilled",
        "periodic_update": "paused",
        "periodic_update_unpaused": "running",
        "requester_wait": "running",
        "resolution": "paused",
        "total_resolution": "running",
    }
    pending, _ = _step(on_hold, 30, status="pending", targets=ALL)
    assert pending["requester_wait"].state == "paused"
    assert pending["requester_wait"].consumed_seconds == 30 * 60


def test_a_seconds_target_is_due_to_the_second_and_warns_its_lead_ahead():
    targets = {"first_response": Target(90, False, 30)}
    metrics, _ = _step({}, 0, status="new", previous=None, targets=targets)
    first = metrics["first_response"]
    assert first.due_at == T0 + dt.timedelta(seconds=90)
    assert first.warn_at == T0 + dt.timedelta(seconds=60)


def test_resolving_unanswered_cancels_next_response_and_periodic_updates_but_not_their_breach():
    metrics, _ = _step({}, 0, status="new", previous=None, targets=ALL)
    metrics, _ = _step(metrics, 5, public_agent_reply=True, targets=ALL)
    metrics, _ = _step(metrics, 10, public_customer_message=True, targets=ALL)
    metrics, moments = _step(metrics, 50, targets=ALL)  # periodic updates and next response overdue
    assert {m.metric for m in moments if m.kind == "breached"} == {
        "next_response",
        "periodic_update",
        "periodic_update_unpaused",
    }
    resolved, _ = _step(metrics, 60, status="resolved", targets=ALL)
    for name in ("next_response", "periodic_update", "periodic_update_unpaused"):
        assert (resolved[name].state, resolved[name].cancelled_at) == ("cancelled", _at(60))
        assert (resolved[name].breached_at is not None, resolved[name].fulfilled_at) == (True, None)
    assert resolved["first_response"].state == "fulfilled"
    # A customer writing again starts a new next-response cycle after a cancelled one.
    reopened, _ = _step(
        resolved, 70, status="open", previous="resolved", public_customer_message=True, targets=ALL
    )
    following = reopened["next_response"]
    assert (following.cycle, following.state) == (2, "running")
    assert following.earlier[-1].cancelled_at == _at(60)


def test_total_resolution_counts_the_time_a_ticket_spent_resolved():
    metrics, _ = _step({}, 0, status="new", previous=None, targets=ALL)
    resolved, _ = _step(metrics, 100, status="resolved", targets=ALL)
    reopened, _ = _step(resolved, 400, status="open", previous="resolved", targets=ALL)
    total, resolution = reopened["total_resolution"], reopened["resolution"]
    assert total.consumed(CALENDAR_TIME, _at(400)) == dt.timedelta(minutes=400)
    assert total.due_at == _at(480)
    assert resolution.consumed(CALENDAR_TIME, _at(400)) == dt.timedelta(minutes=100)


def test_a_lead_as_long_as_the_target_never_warns():
    targets = {"first_response": Target(600, False, 600), "resolution": Target(600, False, 6000)}
    metrics, moments = _step({}, 0, status="new", previous=None, targets=targets)
    assert moments == []
    assert all(m.warn_at is None for m in metrics.values())
    assert set(clocks.next_moments(metrics)) == {("breached", "first_response"), ("breached", "resolution")}


# Hypothesis: histories of ticket changes, and what the clocks make of them.

_CHANGES = st.sampled_from(
    [
        ("open", False, False),
        ("open", True, False),
        ("open", False, True),
        ("pending", False, False),
        ("pending", True, False),
        ("on_hold", False, False),
        ("resolved", False, False),
        ("open", False, True),  # a reopen by a customer when resolved
    ]
)


@st.composite
def _histories(draw):
    """Creation, then changes at increasing instants (minutes apart, up to two days in all)."""
    gaps = draw(st.lists(st.integers(min_value=1, max_value=300), min_size=0, max_size=12))
    changes = draw(st.lists(_CHANGES, min_size=len(gaps), max_size=len(gaps)))
    history = [Facts(at=T0, created_at=T0, status="new", previous_status=None)]
    at, status = T0, "new"
    for gap, (new_status, reply, message) in zip(gaps, changes, strict=True):
        at += dt.timedelta(minutes=gap, seconds=gap % 7)
        history.append(
            Facts(
                at=at,
                created_at=T0,
                status=new_status,
                previous_status=status,
                public_agent_reply=reply,
                public_customer_message=message,
            )
        )
        status = new_status
    return history


def _live(history, targets, clocks_=_clocks):
    """The metrics as the hook computes them change by change, with the one timer firing at every
    moment in between (a change of nothing at that instant); and every moment reported."""
    metrics, reported = {}, []
    for facts in history:
        while (ahead := clocks.next_moments(metrics)) and min(ahead.values()) < facts.at:
            tick = Facts(
                at=min(ahead.values()), created_at=T0, status=facts.previous_status, previous_status=None
            )
            metrics, moments = step(metrics, targets, clocks_, tick)
            reported += moments
        metrics, moments = step(metrics, targets, clocks_, facts)
        reported += moments
    return metrics, reported


def _without_warnings(metrics):
    return {name: dataclasses.replace(m, warned_at=None) for name, m in metrics.items()}


@settings(max_examples=300, deadline=None)
@given(_histories())
def test_a_late_policy_catches_up_to_exactly_what_it_would_have_computed_all_along(history):
    live, _ = _live(history, ALL)
    caught, moments = clocks.catch_up(history, ALL, _clocks)
    assert _without_warnings(caught) == _without_warnings(live)
    # What it reports now is exactly the breaches of cycles still open.
    assert sorted(m.metric for m in moments) == sorted(
        name for name, m in caught.items() if m.breached_at is not None and not m.ended
    )


@settings(max_examples=300, deadline=None)
@given(
    _histories(),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=12), st.integers(min_value=60, max_value=20_000)),
        max_size=6,
    ),
)
def test_a_cycle_reports_at_most_one_breach_whatever_its_target_does(history, retargets):
    """Targets tightened and relaxed at any change: each (metric, cycle) breaches once at most."""
    targets = dict(ALL)
    metrics, reported = {}, []
    changes = dict(retargets)
    for i, facts in enumerate(history):
        if i in changes:
            targets = {name: Target(changes[i], False, 0) for name in ALL}
        while (ahead := clocks.next_moments(metrics)) and min(ahead.values()) < facts.at:
            tick = Facts(
                at=min(ahead.values()), created_at=T0, status=facts.previous_status, previous_status=None
            )
            metrics, moments = step(metrics, targets, _clocks, tick)
            reported += moments
        metrics, moments = step(metrics, targets, _clocks, facts)
        reported += moments
    breaches = [(m.metric, m.metric_state.cycle) for m in reported if m.kind == "breached"]
    assert len(breaches) == len(set(breaches))
    for moment in reported:
        state = moment.metric_state
        assert state.started_at <= (state.warned_at or state.started_at)


_OFFICE = BusinessTime(
    businesstime.Schedule(
        "Europe/Berlin",
        weekly=tuple(businesstime.WeeklyInterval(day, 9 * 60, 17 * 60) for day in range(5)),
        holidays=frozenset({dt.date(2026, 3, 3)}),
    )
)
ALL_BUSINESS = {name: dataclasses.replace(target, business=True) for name, target in ALL.items()}


def _office(business: bool) -> clocks.Clock:
    return _OFFICE if business else CALENDAR_TIME


@settings(max_examples=150, deadline=None)
@given(_histories())
def test_a_late_policy_catches_up_exactly_in_business_time_too(history):
    metrics, _ = _live(history, ALL_BUSINESS, _office)
    caught, _ = clocks.catch_up(history, ALL_BUSINESS, _office)
    assert _without_warnings(caught) == _without_warnings(metrics)
