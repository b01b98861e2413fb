"""SLA clock semantics, as pure functions: no I/O, no wall clock (the change's instant is an input).

A ticket under a policy has one :class:`Metric` per target. A metric is a *cycle*: it starts, runs and
pauses, and ends fulfilled (or cancelled); time counts only while it runs, measured by a :class:`Clock`
(calendar time, or a business calendar's open hours). The state keeps the time consumed up to
``running_since`` so that pausing, resuming, reopening and changing the target never recompute from the
start (glpi#6902) and never count paused time (frappe/helpdesk#1554). Targets and leads are whole
seconds. The seven metrics (:data:`RULES`):

- first response: from creation to the first public agent reply (an internal note does not count);
  resolving before any reply ends it too (fulfilled).
- next response: from the oldest unanswered public customer message to the next public agent reply; one
  cycle per burst of customer messages (a second message while one is running changes nothing).
  Resolving while it runs *cancels* it: the customer's message was never answered, so it is not "met".
- periodic update: from a public agent reply to the next one, paused while pending or on hold;
  ``periodic_update_unpaused`` is the same cycle that never pauses. Resolving cancels a running cycle.
- requester wait: from creation to resolved, paused only while pending (waiting on the customer).
- resolution (agent work time): from creation to resolved, paused while pending or on hold.
- total resolution: from creation to the last resolution, never paused: a reopen continues it and the
  time the ticket spent resolved counts too.

A reopen continues requester wait and resolution from the time already consumed.

Due instants: ``due_at = clock.add(running_since, target - consumed)``; when the target changes mid-way
(priority change, policy edit) the consumed time carries over and the rest counts against the new target
from that moment. A running metric past its due instant is breached at that instant; the breach stays in
the state (and the history) after the metric is fulfilled or the ticket is closed. A re-evaluation that
moves the due instant later than now makes a breached metric run again (no stale breached flag), but a
cycle reports its breach once: ``first_breached_at`` remembers it, and passing the later due instant
marks the metric breached again without a second ``breached`` moment.

A warning is due ``warning_seconds`` before the due instant, and only when that lead is shorter than
the target: it never falls before the cycle started.

:func:`catch_up` gives the metrics a policy that starts applying late (created, activated, or the
ticket moved into it after the facts) would have had, had it applied from the ticket's creation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

MetricName = Literal[
    "first_response",
    "next_response",
    "periodic_update",
    "periodic_update_unpaused",
    "requester_wait",
    "resolution",
    "total_resolution",
]
State = Literal["running", "paused", "fulfilled", "cancelled", "breached"]

PAUSED_STATUSES: Final = frozenset({"pending", "on_hold"})
DONE_STATUSES: Final = frozenset({"resolved", "closed"})


@dataclass(frozen=True, slots=True)
class Rule:
    """How a metric's cycles start and end (``kind``) and which statuses stop its clock."""

    kind: Literal["first_response", "next_response", "update", "resolution"]
    paused_by: frozenset[str] = frozenset()
    resolved_time_counts: bool = False
    """A reopen counts the time the ticket spent resolved (total resolution)."""


RULES: Final[Mapping[MetricName, Rule]] = {
    "first_response": Rule("first_response"),
    "next_response": Rule("next_response"),
    "periodic_update": Rule("update", PAUSED_STATUSES),
    "periodic_update_unpaused": Rule("update"),
    "requester_wait": Rule("resolution", frozenset({"pending"})),
    "resolution": Rule("resolution", PAUSED_STATUSES),
    "total_resolution": Rule("resolution", resolved_time_counts=True),
}
METRICS: Final[tuple[MetricName, ...]] = tuple(RULES)


class Clock(Protocol):
    """How SLA time passes: calendar time, or the open hours of a business calendar."""

    def add(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime: ...

    def elapsed(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta: ...


class CalendarTime:
    """Every instant counts: SLA time is the wall-clock (UTC) difference."""

    def add(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        return start + amount

    def elapsed(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        return max(end - start, dt.timedelta(0))


CALENDAR_TIME: Final = CalendarTime()

Clocks = Callable[[bool], Clock]
"""The clock of a target: ``clocks(business)``."""


@dataclass(frozen=True, slots=True)
class Target:
    seconds: int
    business: bool
    warning_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Pause:
    """A stretch of a cycle that did not count, and the status that paused it."""

    start: dt.datetime
    end: dt.datetime | None
    reason: str


@dataclass(frozen=True, slots=True)
class EarlierCycle:
    cycle: int
    target_seconds: int
    started_at: dt.datetime
    fulfilled_at: dt.datetime | None
    breached_at: dt.datetime | None
    cancelled_at: dt.datetime | None = None


EARLIER_CYCLES_KEPT: Final = 20
"""Past cycles a metric keeps (next response starts one per customer burst): the history has the rest."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    cycle: int
    target_seconds: int
    business: bool
    warning_seconds: int
    started_at: dt.datetime
    consumed_seconds: float
    """SLA time consumed before ``running_since`` (all of it while paused or ended)."""
    running_since: dt.datetime | None
    due_at: dt.datetime | None
    warned_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None
    first_breached_at: dt.datetime | None = None
    """When this cycle first went overdue: kept when a relaxed target lets it run again, so the cycle
    reports one breach."""
    fulfilled_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    pauses: tuple[Pause, ...] = ()
    earlier: tuple[EarlierCycle, ...] = ()

    @property
    def ended(self) -> bool:
        return self.fulfilled_at is not None or self.cancelled_at is not None

    @property
    def state(self) -> State:
        if self.fulfilled_at is not None:
            return "fulfilled"
        if self.cancelled_at is not None:
            return "cancelled"
        if self.breached_at is not None:
            return "breached"
        return "running" if self.running_since is not None else "paused"

    @property
    def warn_at(self) -> dt.datetime | None:
        """The warning instant: never before the cycle started (a lead as long as the target has none)."""
        if self.due_at is None or not 0 < self.warning_seconds < self.target_seconds:
            return None
        return max(self.due_at - dt.timedelta(seconds=self.warning_seconds), self.started_at)

    def remaining(self, clock: Clock, now: dt.datetime) -> dt.timedelta:
        """SLA time left at ``now`` (negative once overdue; what a countdown shows)."""
        used = self.consumed(clock, now)
        left = dt.timedelta(seconds=self.target_seconds) - used
        if self.running_since is not None and self.due_at is not None and now > self.due_at:
            return -(now - self.due_at)
        return left

    def consumed(self, clock: Clock, now: dt.datetime) -> dt.timedelta:
        used = dt.timedelta(seconds=self.consumed_seconds)
        if self.running_since is not None and not self.ended:
            used += clock.elapsed(self.running_since, now)
        return used


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What a ticket change means to the clocks."""

    at: dt.datetime
    created_at: dt.datetime
    status: str
    previous_status: str | None
    public_agent_reply: bool = False
    public_customer_message: bool = False


@dataclass(frozen=True, slots=True)
class Moment:
    """A clock event to report: a metric's warning or breach instant passed during this change."""

    kind: Literal["warning", "breached"]
    metric: MetricName
    metric_state: Metric


def _start(target: Target, clock: Clock, at: dt.datetime, previous: Metric | None = None) -> Metric:
    earlier: tuple[EarlierCycle, ...] = ()
    if previous is not None:
        done = EarlierCycle(
            previous.cycle,
            previous.target_seconds,
            previous.started_at,
            previous.fulfilled_at,
            previous.breached_at,
            previous.cancelled_at,
        )
        earlier = (*previous.earlier, done)[-EARLIER_CYCLES_KEPT:]
    return Metric(
        cycle=1 if previous is None else previous.cycle + 1,
        earlier=earlier,
        target_seconds=target.seconds,
        business=target.business,
        warning_seconds=target.warning_seconds,
        started_at=at,
        consumed_seconds=0.0,
        running_since=at,
        due_at=clock.add(at, dt.timedelta(seconds=target.seconds)),
    )


def _stop(metric: Metric, clock: Clock, at: dt.datetime) -> Metric:
    if metric.running_since is None:
        return metric
    used = metric.consumed(clock, at)
    return dataclasses.replace(metric, consumed_seconds=used.total_seconds(), running_since=None, due_at=None)


def _pause(metric: Metric, clock: Clock, at: dt.datetime, reason: str) -> Metric:
    if metric.running_since is None:
        return metric
    stopped = _stop(metric, clock, at)
    return dataclasses.replace(stopped, pauses=(*stopped.pauses, Pause(at, None, reason)))


def _resume(metric: Metric, clock: Clock, at: dt.datetime) -> Metric:
    if metric.running_since is not None or metric.ended:
        return metric
    pauses = metric.pauses
    if pauses and pauses[-1].end is None:
        pauses = (*pauses[:-1], dataclasses.replace(pauses[-1], end=at))
    left = dt.timedelta(seconds=metric.target_seconds) - dt.timedelta(seconds=metric.consumed_seconds)
    return dataclasses.replace(metric, running_since=at, due_at=_due(clock, at, left), pauses=pauses)


def _fulfil(metric: Metric, clock: Clock, at: dt.datetime) -> Metric:
    if metric.ended:
        return metric
    return dataclasses.replace(_stop(metric, clock, at), fulfilled_at=at)


def _cancel(metric: Metric, clock: Clock, at: dt.datetime) -> Metric:
    if metric.ended:
        return metric
    return dataclasses.replace(_stop(metric, clock, at), cancelled_at=at)


def _due(clock: Clock, at: dt.datetime, left: dt.timedelta) -> dt.datetime:
    # Overdue already: due when the budget ran out, i.e. in the past (the remaining time is negative).
    return at + left if left <= dt.timedelta(0) else clock.add(at, left)


def retarget(
    metric: Metric, target: Target, clocks: Clocks, at: dt.datetime, previous_clocks: Clocks | None = None
) -> Metric:
    """The policy, the target or the calendar changed: keep the time consumed (measured with the clock it
    was consumed under, ``previous_clocks`` when the calendar changed), count the rest against the new
    target with the new clock from that moment."""
    if metric.ended:
        return metric
    same_target = (metric.target_seconds, metric.business, metric.warning_seconds) == (
        target.seconds,
        target.business,
        target.warning_seconds,
    )
    if same_target and (previous_clocks is None or not metric.business):
        return metric
    stopped = _stop(metric, (previous_clocks or clocks)(metric.business), at)
    changed = dataclasses.replace(
        stopped,
        target_seconds=target.seconds,
        business=target.business,
        warning_seconds=target.warning_seconds,
        warned_at=None,
    )
    if metric.running_since is None:
        return changed
    resumed = _resume(changed, clocks(target.business), at)
    if resumed.breached_at is not None and resumed.due_at is not None and resumed.due_at > at:
        # The new due instant lies ahead: running again (``first_breached_at`` keeps the reported breach).
        resumed = dataclasses.replace(resumed, breached_at=None)
    return resumed


def _runs(metric: MetricName, status: str) -> bool:
    return status not in DONE_STATUSES and status not in RULES[metric].paused_by


def advance(
    metrics: Mapping[MetricName, Metric],
    targets: Mapping[MetricName, Target],
    clocks: Clocks,
    facts: Facts,
    previous_clocks: Clocks | None = None,
) -> dict[MetricName, Metric]:
    """The metrics after a change, before looking at the warning and breach instants it passed."""
    at = facts.at
    result: dict[MetricName, Metric] = {}
    for name in METRICS:
        target = targets.get(name)
        metric = metrics.get(name)
        if target is None:
            continue  # the policy sets no target for it (any old state no longer applies)
        if metric is not None:
            metric = retarget(metric, target, clocks, at, previous_clocks)
        clock = clocks(target.business)
        metric = _transition(name, metric, target, clock, facts)
        if metric is not None:
            running = _runs(name, facts.status)
            result[name] = _resume(metric, clock, at) if running else _pause(metric, clock, at, facts.status)
    return result


def step(
    metrics: Mapping[MetricName, Metric],
    targets: Mapping[MetricName, Target],
    clocks: Clocks,
    facts: Facts,
    previous_clocks: Clocks | None = None,
) -> tuple[dict[MetricName, Metric], list[Moment]]:
    """The metrics after a change, and the warning/breach moments that passed by ``facts.at``;
    ``previous_clocks`` when the business calendar changed since the metrics were computed."""
    result = advance(metrics, targets, clocks, facts, previous_clocks)
    moments: list[Moment] = []
    for name, metric in result.items():
        metric, passed = _moments(name, metric, facts.at)
        result[name] = metric
        moments += passed
    return result, moments


def _transition(
    name: MetricName, metric: Metric | None, target: Target, clock: Clock, facts: Facts
) -> Metric | None:
    at = facts.at
    done = facts.status in DONE_STATUSES
    rule = RULES[name]
    if rule.kind == "first_response":
        if metric is None:
            metric = _start(target, clock, facts.created_at)
        if facts.public_agent_reply or done:
            metric = _fulfil(metric, clock, at)
        return metric
    if rule.kind == "resolution":
        if metric is None:
            metric = _start(target, clock, facts.created_at)
        if done:
            return _fulfil(metric, clock, at)
        if metric.fulfilled_at is not None:  # reopened: continue from the time already consumed
            resolved_at = metric.fulfilled_at
            if rule.resolved_time_counts:  # …and count the time it spent resolved
                return _resume(dataclasses.replace(metric, fulfilled_at=None), clock, resolved_at)
            resolved = Pause(resolved_at, None, "resolved")
            metric = dataclasses.replace(metric, fulfilled_at=None, pauses=(*metric.pauses, resolved))
        return metric
    if rule.kind == "next_response":
        if metric is not None and not metric.ended:
            if facts.public_agent_reply:
                return _fulfil(metric, clock, at)
            if done:
                return _cancel(metric, clock, at)
        if facts.public_customer_message and not done and (metric is None or metric.ended):
            return _start(target, clock, at, metric)
        return metric
    # Periodic updates: each public agent reply ends the running cycle and starts the next one.
    if facts.public_agent_reply and not done:
        return _start(target, clock, at, None if metric is None else _fulfil(metric, clock, at))
    if metric is not None and done:
        return _cancel(metric, clock, at)
    return metric


def _moments(name: MetricName, metric: Metric, at: dt.datetime) -> tuple[Metric, list[Moment]]:
    moments: list[Moment] = []
    due_at = metric.due_at
    if metric.running_since is None or due_at is None:
        return metric, moments
    warn_at = metric.warn_at
    if warn_at is not None and metric.warned_at is None and warn_at <= at and metric.breached_at is None:
        metric = dataclasses.replace(metric, warned_at=warn_at)
        moments.append(Moment("warning", name, metric))
    if metric.breached_at is None and due_at <= at:
        first = metric.first_breached_at is None
        metric = dataclasses.replace(
            metric, breached_at=due_at, first_breached_at=metric.first_breached_at or due_at
        )
        if first:  # a cycle reports its breach once
            moments.append(Moment("breached", name, metric))
    return metric, moments


def _breached_by(metric: Metric, at: dt.datetime) -> Metric:
    """The metric with its breach recorded if it ran past its due instant by ``at`` (no moment)."""
    if metric.running_since is None or metric.due_at is None or metric.breached_at is not None:
        return metric
    if metric.due_at > at:
        return metric
    return dataclasses.replace(
        metric, breached_at=metric.due_at, first_breached_at=metric.first_breached_at or metric.due_at
    )


def catch_up(
    history: Iterable[Facts], targets: Mapping[MetricName, Target], clocks: Clocks
) -> tuple[dict[MetricName, Metric], list[Moment]]:
    """The metrics of ``targets`` as if they had applied from the ticket's creation, replaying its
    ``history`` (creation first, then every change that mattered to the clocks, in order).

    A cycle that ended in the past keeps its result (fulfilled or cancelled, and breached if it ran
    past its due instant) without a moment: it is history. A cycle still open that is already overdue
    is reported now (one ``breached`` moment each), since it can still be acted on; warnings are left
    to the change that follows, which reports the ones whose instant passed on running metrics.
    """
    metrics: dict[MetricName, Metric] = {}
    for facts in history:
        # Overdue before the change (which may stop the clock), or at it (a reopen resuming a budget
        # already spent): what the timer, or the change itself, would have recorded.
        metrics = {name: _breached_by(metric, facts.at) for name, metric in metrics.items()}
        metrics = advance(metrics, targets, clocks, facts)
        metrics = {name: _breached_by(metric, facts.at) for name, metric in metrics.items()}
    moments = [
        Moment("breached", name, metric)
        for name, metric in metrics.items()
        if metric.breached_at is not None and not metric.ended
    ]
    return metrics, moments


def next_moments(metrics: Mapping[MetricName, Metric]) -> dict[tuple[str, MetricName], dt.datetime]:
    """The warning and breach instants still ahead, per metric (the hook's one timer waits for the
    earliest of them)."""
    due: dict[tuple[str, MetricName], dt.datetime] = {}
    for name, metric in metrics.items():
        if metric.running_since is None or metric.due_at is None:
            continue
        if metric.warn_at is not None and metric.warned_at is None and metric.breached_at is None:
            due[("warning", name)] = metric.warn_at
        if metric.breached_at is None:
            due[("breached", name)] = metric.due_at
    return due
