"""A ticket's SLA explained: which stretches of each cycle counted, which did not and why, and the open
intervals still ahead of the due instant. Pure: the stored state, the clock and the instant are inputs."""

from __future__ import annotations

import datetime as dt
import itertools

from api.calendars import businesstime
from api.sla import clocks
from api.sla.hook import BusinessTime
from api.sla.render import remaining_seconds
from api.sla.schemas import (
    SlaInterval,
    SlaMetric,
    SlaMetricExplanation,
    SlaStretch,
    TicketSla,
    TicketSlaExplanation,
)

# What one metric's explanation lists at most: a year's business-time target on a calendar of many short
# openings listed 65 MB. The first stretches of the cycle (the last one then ends before now) and the
# next openings ahead of the due instant.
MAX_STRETCHES = 1000
MAX_UNTIL_DUE = 100


def _pause_status(metric: SlaMetric, at: dt.datetime, end: dt.datetime) -> str | None:
    for pause in metric.pauses:
        if pause.start <= at < (pause.end or end):
            return pause.reason
    return None


def _stretches(metric: SlaMetric, clock: clocks.Clock, end: dt.datetime) -> list[SlaStretch]:
    start = metric.started_at
    if end <= start:
        return []
    pauses = [(p.start, min(p.end or end, end)) for p in metric.pauses if p.start < end]
    if metric.business and isinstance(clock, BusinessTime):
        explained = businesstime.explain(clock.schedule, start, end, pauses, max_stretches=MAX_STRETCHES)
        return [
            SlaStretch(
                start=s.start,
                end=s.end,
                reason=s.reason,
                status=_pause_status(metric, s.start, end) if s.reason == "paused" else None,
            )
            for s in explained
        ]
    stretches: list[SlaStretch] = []
    cursor = start
    for pause_start, pause_end in sorted(pauses):
        pause_start = max(pause_start, cursor)
        if pause_start > cursor:
            stretches.append(SlaStretch(start=cursor, end=pause_start, reason="counted", status=None))
        if pause_end > pause_start:
            status = _pause_status(metric, pause_start, end)
            stretches.append(SlaStretch(start=pause_start, end=pause_end, reason="paused", status=status))
        cursor = max(cursor, pause_end)
    if end > cursor:
        stretches.append(SlaStretch(start=cursor, end=end, reason="counted", status=None))
    return stretches


def _until_due(metric: SlaMetric, clock: clocks.Clock, now: dt.datetime) -> list[SlaInterval]:
    if metric.running_since is None or metric.due_at is None or metric.due_at <= now:
        return []
    start = max(now, metric.running_since)
    if metric.business and isinstance(clock, BusinessTime):
        try:
            found = businesstime.counted_intervals(clock.schedule, start, until=metric.due_at)
            return [SlaInterval(start=i.start, end=i.end) for i in itertools.islice(found, MAX_UNTIL_DUE)]
        except businesstime.BusinessTimeError:
            return []
    return [SlaInterval(start=start, end=metric.due_at)]


def explain(
    ticket_id: int, sla: TicketSla, business: clocks.Clock, now: dt.datetime, time_zone: str | None
) -> TicketSlaExplanation:
    metrics = []
    for metric in sla.metrics:
        clock = business if metric.business else clocks.CALENDAR_TIME
        end = metric.fulfilled_at or now
        left = remaining_seconds(metric, clock, now)
        consumed = metric.consumed_seconds
        if metric.running_since is not None and metric.fulfilled_at is None:
            consumed += clock.elapsed(metric.running_since, now).total_seconds()
        metrics.append(
            SlaMetricExplanation(
                metric=metric.metric,
                cycle=metric.cycle,
                state=metric.state,
                target_minutes=metric.target_minutes,
                business=metric.business,
                started_at=metric.started_at,
                due_at=metric.due_at,
                fulfilled_at=metric.fulfilled_at,
                breached_at=metric.breached_at,
                consumed_seconds=consumed,
                remaining_seconds=left,
                stretches=_stretches(metric, clock, end),
                until_due=_until_due(metric, clock, now),
                earlier_cycles=metric.earlier_cycles,
            )
        )
    return TicketSlaExplanation(
        ticket_id=ticket_id,
        policy_id=sla.policy_id,
        policy_version=sla.policy_version,
        calendar_id=sla.calendar_id,
        calendar_version=sla.calendar_version,
        time_zone=time_zone,
        computed_at=now,
        metrics=metrics,
    )
