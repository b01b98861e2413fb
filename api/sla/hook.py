"""The SLA hook: keeps each ticket's SLA state, its SLA timer and events up to date.

Runs on every ticket change through the seam (``api/tickets/seam.py``): it selects the policy (first
match of the active policies, which the change's configuration carries), steps the clocks
(``clocks.py``) with what the change means to them, stores the result in the ticket's ``sla`` column
(plus ``sla_due_at`` and ``sla_breached`` for lists), declares one ``sla`` timer at the earliest
warning or breach instant still ahead of any running metric, and records ``sla.warning``/``sla.breached``
events for the moments that passed. A fired timer is just another change: the hook records every moment
that has passed, once, and moves the timer to the next earliest one; a timer made stale by a later
change finds nothing to record. One timer rather than one per metric and kind: every timer row costs
each create and change its insert or update, and the hook needs only to be woken at the first moment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from api.calendars import businesstime
from api.context import Actor, Context
from api.events.service import NewEvent
from api.sla import clocks
from api.sla.policies import Policy, select
from api.sla.schemas import SlaCycle, SlaMetric, SlaPause, TicketSla
from api.tickets import store
from api.tickets.seam import Config, Effects, Hook, Row, TicketChange

MOMENT = "sla"
"""The kind of a ticket's one SLA timer (key ``""``), due at its next warning or breach instant."""
# Legacy kinds: one timer per metric and kind, before the single ``sla`` timer (migration 0320 converts
# them). The hook still owns them, so a ticket's next change deletes any left over, and the runner still
# fires them (a moment is recorded once whatever fires it) for timers an older process writes during a
# rolling deploy.
WARNING = "sla_warning"
BREACH = "sla_breach"
_EVENT_TYPE = {"warning": "sla.warning", "breached": "sla.breached"}


class BusinessTime:
    """A business calendar's open hours as an SLA clock (``api/calendars/businesstime.py``)."""

    def __init__(self, schedule: businesstime.Schedule) -> None:
        self.schedule = schedule

    def add(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        try:
            return businesstime.add(self.schedule, start, amount)
        except businesstime.BusinessTimeError:
            # No open time ahead (every day a holiday, say): the metric can never fall due.
            return businesstime.MAX_INSTANT

    def elapsed(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        try:
            return businesstime.elapsed(self.schedule, start, end)
        except businesstime.BusinessTimeError:
            return dt.timedelta(0)


@dataclass(frozen=True, slots=True)
class Calendar:
    clock: clocks.Clock
    version: int


@dataclass(frozen=True, slots=True)
class SlaConfig:
    """The active policies in position order, and the clock and version of each business calendar."""

    policies: tuple[Policy, ...] = ()
    calendars: Mapping[uuid.UUID, Calendar] = field(default_factory=dict)
    earlier_calendars: Mapping[tuple[uuid.UUID, int], Calendar] = field(default_factory=dict)
    """Past calendar versions tickets were computed with (loaded by re-evaluation)."""
    histories: Mapping[int, tuple[clocks.Facts, ...]] = field(default_factory=dict)
    """What happened to tickets a policy starts applying to late, by ticket id (``api/sla/history.py``
    loads it for the changes that need it; without it, the instants kept on the ticket stand in)."""

    def calendar_ids(self) -> set[uuid.UUID]:
        return {p.calendar_id for p in self.policies if p.calendar_id is not None}

    def calendar_for(self, policy: Policy) -> Calendar | None:
        return self.calendars.get(policy.calendar_id) if policy.calendar_id else None

    def clocks_for(self, policy: Policy) -> clocks.Clocks:
        return _clocks(self.calendar_for(policy))

    def previous_clocks(self, policy: Policy, previous: TicketSla | None) -> clocks.Clocks | None:
        """The clocks the ticket's metrics were computed with, when its calendar changed since."""
        current = self.calendar_for(policy)
        if previous is None or previous.calendar_id is None or previous.calendar_version is None:
            return None
        unchanged = current is not None and (previous.calendar_id, previous.calendar_version) == (
            policy.calendar_id,
            current.version,
        )
        if unchanged:
            return None
        earlier = self.earlier_calendars.get((previous.calendar_id, previous.calendar_version))
        return _clocks(earlier or current)


def _clocks(calendar: Calendar | None) -> clocks.Clocks:
    def clock(is_business: bool) -> clocks.Clock:
        return calendar.clock if is_business and calendar is not None else clocks.CALENDAR_TIME

    return clock


EMPTY = SlaConfig()
_NO_SLA = {"sla": None, "sla_due_at": None, "sla_breached": False}


def decode(document: str | None) -> TicketSla | None:
    return None if document is None else msgspec.json.decode(document, type=TicketSla)


def clock_metric(doc: SlaMetric) -> clocks.Metric:
    return clocks.Metric(
        cycle=doc.cycle,
        target_seconds=doc.target_seconds,
        business=doc.business,
        warning_seconds=doc.warning_seconds,
        started_at=doc.started_at,
        consumed_seconds=doc.consumed_seconds,
        running_since=doc.running_since,
        due_at=doc.due_at,
        warned_at=doc.warned_at,
        breached_at=doc.breached_at,
        first_breached_at=doc.first_breached_at,
        fulfilled_at=doc.fulfilled_at,
        cancelled_at=doc.cancelled_at,
        pauses=tuple(clocks.Pause(p.start, p.end, p.reason) for p in doc.pauses),
        earlier=tuple(
            clocks.EarlierCycle(
                c.cycle, c.target_seconds, c.started_at, c.fulfilled_at, c.breached_at, c.cancelled_at
            )
            for c in doc.earlier_cycles
        ),
    )


def _minutes(seconds: int) -> int:
    """Whole minutes, rounded up: what the deprecated ``*_minutes`` fields show."""
    return -(-seconds // 60)


def _doc(name: clocks.MetricName, metric: clocks.Metric) -> SlaMetric:
    return SlaMetric(
        metric=name,
        cycle=metric.cycle,
        state=metric.state,
        target_minutes=_minutes(metric.target_seconds),
        target_seconds=metric.target_seconds,
        business=metric.business,
        warning_minutes=_minutes(metric.warning_seconds),
        warning_seconds=metric.warning_seconds,
        started_at=metric.started_at,
        running_since=metric.running_since,
        consumed_seconds=metric.consumed_seconds,
        due_at=metric.due_at,
        warned_at=metric.warned_at,
        breached_at=metric.breached_at,
        first_breached_at=metric.first_breached_at,
        fulfilled_at=metric.fulfilled_at,
        cancelled_at=metric.cancelled_at,
        pauses=[SlaPause(start=p.start, end=p.end, reason=p.reason) for p in metric.pauses],
        remaining_seconds=None,  # filled in when a response is made (api/sla/render.py)
        earlier_cycles=[
            SlaCycle(
                cycle=c.cycle,
                target_minutes=_minutes(c.target_seconds),
                target_seconds=c.target_seconds,
                started_at=c.started_at,
                fulfilled_at=c.fulfilled_at,
                breached_at=c.breached_at,
                cancelled_at=c.cancelled_at,
            )
            for c in metric.earlier
        ],
    )


def _facts(change: TicketChange) -> clocks.Facts:
    comment = change.comment
    public = comment is not None and comment.public
    return clocks.Facts(
        at=change.at,
        created_at=change.after["created_at"],
        status=change.after["status"],
        previous_status=None if change.before is None else change.before["status"],
        public_agent_reply=public and comment is not None and comment.author_type == "agent",
        public_customer_message=public and comment is not None and comment.author_type == "customer",
    )


def late_targets(config: SlaConfig, before: Row | None, after: Row) -> dict[clocks.MetricName, clocks.Target]:
    """The targets a change makes apply to a ticket that already has a past, with no state for them yet:
    a policy (or policy version, or priority) that starts applying after the facts. Their clocks are
    caught up from what already happened (:func:`clocks.catch_up`) rather than started now."""
    if before is None:
        return {}  # a new ticket has no past
    previous = decode(after.get("sla"))
    if previous is None and after["status"] == "closed":
        return {}
    return _late(select(config.policies, after), previous, before, after)


def _late(
    policy: Policy | None, previous: TicketSla | None, before: Row | None, after: Row
) -> dict[clocks.MetricName, clocks.Target]:
    if policy is None or before is None:
        return {}
    targets = policy.targets_for(after["priority"])
    if previous is not None and previous.measured is not None:
        # A metric measured before but without state has not started yet (next response, updates).
        return {n: t for n, t in targets.items() if n not in previous.measured}
    if (  # a document written before ``measured`` was kept
        previous is not None
        and (previous.policy_id, previous.policy_version) == (policy.id, policy.version)
        and before["priority"] == after["priority"]
    ):
        return {}
    measured = set() if previous is None else {m.metric for m in previous.metrics}
    return {n: t for n, t in targets.items() if n not in measured}


def instants_history(ticket: Row) -> tuple[clocks.Facts, ...]:
    """The clock facts the instants kept on a ticket tell (creation, first public agent reply, last
    resolution): what stands in for its history when none was loaded. It knows no pauses and no
    customer messages."""
    created = ticket["created_at"]
    history = [clocks.Facts(at=created, created_at=created, status="new", previous_status=None)]
    later = []
    if ticket["first_agent_reply_at"] is not None:
        later.append((ticket["first_agent_reply_at"], "open", True))
    if ticket["resolved_at"] is not None:
        later.append((ticket["resolved_at"], "resolved", False))
    for at, status, replied in sorted(later):
        history.append(
            clocks.Facts(
                at=at, created_at=created, status=status, previous_status=None, public_agent_reply=replied
            )
        )
    return tuple(history)


def sla_hook(change: TicketChange) -> Effects:
    config: SlaConfig = change.config.value(FEATURE) or EMPTY
    after = change.after
    previous = decode(after.get("sla"))
    if previous is None and after["status"] == "closed":
        # A closed ticket is history: one closed before any policy applied to it never gains clocks
        # (re-evaluation passes over closed tickets for the same reason).
        return Effects()
    policy = select(config.policies, after)
    if policy is None:
        # No policy applies (any more): no state, no timers — a deactivated policy leaves nothing behind.
        if previous is None:
            return Effects()
        return Effects(fields=dict(_NO_SLA), events=[_updated(change, previous, None, dict(_NO_SLA))])
    metrics: dict[clocks.MetricName, clocks.Metric] = {}
    if previous is not None:
        metrics = {m.metric: clock_metric(m) for m in previous.metrics}
    targets = policy.targets_for(after["priority"])
    policy_clocks = config.clocks_for(policy)
    facts = _facts(change)
    late = _late(policy, previous, change.before, after)
    stepped, moments = clocks.step(
        metrics,
        {n: t for n, t in targets.items() if n not in late},
        policy_clocks,
        facts,
        config.previous_clocks(policy, previous),
    )
    if late:
        assert change.before is not None
        history = config.histories.get(after["id"]) or instants_history(change.before)
        caught, caught_moments = clocks.catch_up(history, late, policy_clocks)
        caught, live = clocks.step(caught, late, policy_clocks, facts)
        stepped = {n: m for n in clocks.METRICS if (m := stepped.get(n) or caught.get(n)) is not None}
        moments += caught_moments + live
    calendar = config.calendar_for(policy)
    sla = TicketSla(
        policy_id=policy.id,
        policy_version=policy.version,
        calendar_id=policy.calendar_id,
        calendar_version=None if calendar is None else calendar.version,
        measured=list(targets),
        metrics=[_doc(name, metric) for name, metric in stepped.items()],
    )
    if sla == previous or _same_clocks(previous, sla):  # unchanged: keep the stored text (and the
        return Effects(timers=_timers(stepped))  # version it names), so the writer sees no change
    running_dues = [m.due_at for m in stepped.values() if m.due_at is not None and not m.ended]
    fields: dict[str, Any] = {
        "sla": msgspec.json.encode(sla).decode(),
        "sla_due_at": min(running_dues, default=None),
        "sla_breached": any(m.breached_at is not None for m in stepped.values()),
    }
    events = [_event(change, sla, moment, fields) for moment in moments]
    if change.before is not None and _targets_changed(previous, sla):
        events.insert(0, _updated(change, previous, sla, fields))
    return Effects(fields=fields, events=events, timers=_timers(stepped))


def _same_clocks(previous: TicketSla | None, current: TicketSla) -> bool:
    """Whether only the policy's version differs: an edit nothing the clocks depend on (a rename, a
    condition the ticket still meets) changes no ticket, so a re-evaluation writes and notifies none."""
    return previous is not None and current == msgspec.structs.replace(
        previous, policy_version=current.policy_version
    )


def _targets_changed(previous: TicketSla | None, current: TicketSla) -> bool:
    """Whether the policy or a metric's target changed (what ``sla.updated`` reports; a new version of the
    same policy with the same targets is no news)."""
    if previous is None:
        return True
    if previous.policy_id != current.policy_id:
        return True
    before = {m.metric: (m.target_seconds, m.business) for m in previous.metrics}
    return any(
        before.get(m.metric, (m.target_seconds, m.business)) != (m.target_seconds, m.business)
        for m in current.metrics
    )


def _policy_ref(sla: TicketSla | None) -> dict[str, Any] | None:
    return None if sla is None else {"policy_id": str(sla.policy_id), "policy_version": sla.policy_version}


def _updated(
    change: TicketChange, previous: TicketSla | None, current: TicketSla | None, fields: dict[str, Any]
) -> NewEvent:
    """History of why a ticket's SLA changed: another policy or version applies, or none any more."""
    data = {
        "ticket": store.summary({**change.after, **fields}),
        "previous": _policy_ref(previous),
        "current": _policy_ref(current),
        "reason": change.cause,
        "metrics": [msgspec.to_builtins(m) for m in current.metrics] if current is not None else [],
    }
    return NewEvent(type="sla.updated", ticket_id=change.after["id"], ctx=change.ctx, data=data)


def _timers(metrics: Mapping[clocks.MetricName, clocks.Metric]) -> dict[tuple[str, str], dt.datetime]:
    """At most one timer: when it fires, the hook records every moment passed by then, so being woken
    at the earliest one is enough."""
    earliest = min(clocks.next_moments(metrics).values(), default=None)
    return {} if earliest is None else {(MOMENT, ""): earliest}


def _event(change: TicketChange, sla: TicketSla, moment: clocks.Moment, fields: dict[str, Any]) -> NewEvent:
    ticket = {**change.after, **fields}
    data = {
        "ticket": store.summary(ticket),
        "policy_id": str(sla.policy_id),
        "policy_version": sla.policy_version,
        "metric": msgspec.to_builtins(_doc(moment.metric, moment.metric_state)),
    }
    return NewEvent(type=_EVENT_TYPE[moment.kind], ticket_id=ticket["id"], ctx=change.ctx, data=data)


def _result(metric: SlaMetric) -> str:
    if metric.breached_at is not None:
        return "breached"
    return "cancelled" if metric.cancelled_at is not None else "met"


def outcome(document: str | None) -> dict[str, Any] | None:
    """What ``ticket.resolved`` says of the SLA, per metric and overall: ``breached`` when the cycle went
    overdue, ``cancelled`` when resolving ended it unanswered (next response, periodic updates), else
    ``met``; overall ``breached`` when any metric is."""
    sla = decode(document)
    if sla is None:
        return None
    metrics = [
        {
            "metric": m.metric,
            "result": _result(m),
            "target_minutes": m.target_minutes,
            "target_seconds": m.target_seconds,
            "breached_at": msgspec.to_builtins(m.breached_at),
            "fulfilled_at": msgspec.to_builtins(m.fulfilled_at),
        }
        for m in sla.metrics
    ]
    return {
        "policy_id": str(sla.policy_id),
        "policy_version": sla.policy_version,
        "result": "breached" if any(m["result"] == "breached" for m in metrics) else "met",
        "metrics": metrics,
    }


# Registration: what the SLA hook owns, for the composition root (``api/features.py``) --------------------

FEATURE = "sla"
"""The SLA configuration's name in ``seam.Config`` (an :class:`SlaConfig`)."""
ACTOR = Context(actor=Actor("system", None, "sla"), request_id=None, agent_id=None)


def _with_outcome(change: TicketChange) -> Effects:
    """The hook, and what ``ticket.resolved`` says of the SLA when the change resolves the ticket."""
    effects = sla_hook(change)
    if change.resolves():
        document = effects.fields.get("sla", change.after.get("sla"))
        effects.event_data["ticket.resolved"] = {"sla_outcome": outcome(document)}
    return effects


def _needs_on_create(config: Config) -> frozenset[str]:
    """A policy that names requesters must see who a ticket created by email is from."""
    sla: SlaConfig = config.value(FEATURE) or EMPTY
    for policy in sla.policies:
        if any(c.field == "requester_id" for c in (*policy.conditions.all, *policy.conditions.any)):
            return frozenset({"requester"})
    return frozenset()


SLA = Hook(
    name="sla",
    run=_with_outcome,
    columns={"sla": "jsonb", "sla_due_at": "timestamptz", "sla_breached": "boolean"},
    defaults=_NO_SLA,
    timer_kinds=frozenset({MOMENT, WARNING, BREACH}),
    event_types=frozenset({"sla.warning", "sla.breached", "sla.updated"}),
    actor=ACTOR,
    needs_on_create=_needs_on_create,
)
