"""A ticket's SLA explained, for machines and for people: which stretches of each cycle counted, which did
not and why (with the holiday's name), the open intervals still ahead of the due instant, the warning
instant, every instant in UTC and in the calendar's local time, and a one-line summary such as
``first response: due Tue 11:00 Europe/Berlin, 1 h 30 min of business time left``.

Pure: the stored state, the clock, the holiday names and the instant are inputs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Callable
from typing import Final

from api.calendars import businesstime
from api.sla import clocks
from api.sla.hook import BusinessTime, clock_metric
from api.sla.render import HolidayNames, no_holiday_names, remaining_seconds
from api.sla.schemas import (
    MetricName,
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

LABELS: Final[dict[MetricName, str]] = {
    "first_response": "first response",
    "next_response": "next response",
    "periodic_update": "periodic update",
    "periodic_update_unpaused": "periodic update (never paused)",
    "requester_wait": "requester wait",
    "resolution": "resolution",
    "total_resolution": "total resolution",
}
_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NEAR: Final = dt.timedelta(days=6)
"""Instants this close to now are named by weekday and time alone ("Tue 11:00")."""
_UNITS: Final = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))

Local = Callable[[dt.datetime], dt.datetime]


def duration(seconds: float) -> str:
    """``5400`` → ``"1 h 30 min"``: the largest unit used and the next one (when not zero), rounded
    down (a summary, not the arithmetic: ``remaining_seconds`` is exact)."""
    left = int(max(seconds, 0))
    for i, (name, size) in enumerate(_UNITS):
        if left >= size:
            text = f"{left // size} {name}"
            if i + 1 < len(_UNITS):
                next_name, next_size = _UNITS[i + 1]
                following = left % size // next_size
                if following:
                    text += f" {following} {next_name}"
            return text
    return "0 s"


def when(instant: dt.datetime, now: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """An instant as people read it in the calendar's zone: ``Tue 11:00 Europe/Berlin`` within a week
    of now, else with its date, ``Tue 3 Mar 2026 11:00 Europe/Berlin``."""
    local = instant.astimezone(zone)
    day = _DAYS[local.weekday()]
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if abs(instant - now) < _NEAR:
        return f"{day} {clock} {zone.key}"
    return f"{day} {local.day} {_MONTHS[local.month - 1]} {local.year} {clock} {zone.key}"


def summary(metric: SlaMetric, left: float | None, now: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """One line for people: how the metric's current cycle stands."""
    kind = "business" if metric.business else "calendar"
    overdue = "" if metric.breached_at is None else f", overdue since {when(metric.breached_at, now, zone)}"
    if metric.fulfilled_at is not None:
        text = f"met {when(metric.fulfilled_at, now, zone)}"
        if metric.breached_at is not None:
            text = f"fulfilled {when(metric.fulfilled_at, now, zone)}{overdue}"
    elif metric.cancelled_at is not None:
        text = f"cancelled {when(metric.cancelled_at, now, zone)}: resolved without an answer{overdue}"
    elif metric.running_since is None:
        pause = metric.pauses[-1] if metric.pauses else None
        since = "" if pause is None else f" ({pause.reason}) since {when(pause.start, now, zone)}"
        text = f"paused{since}, {duration(left or 0)} of {kind} time left{overdue}"
    elif metric.due_at is not None and (left is None or left <= 0):
        text = f"overdue since {when(metric.due_at, now, zone)}, {duration(-(left or 0))} past due"
    else:
        due = "" if metric.due_at is None else f"due {when(metric.due_at, now, zone)}, "
        text = f"{due}{duration(left or 0)} of {kind} time left"
    return f"{LABELS[metric.metric]}: {text}"


def _pause_status(metric: SlaMetric, at: dt.datetime, end: dt.datetime) -> str | None:
    for pause in metric.pauses:
        if pause.start <= at < (pause.end or end):
            return pause.reason
    return None


def _holiday(start: dt.datetime, end: dt.datetime, local: Local, names: HolidayNames) -> str | None:
    """The names of the holidays on the local dates a holiday stretch covers."""
    day, last = local(start).date(), local(end - dt.timedelta(microseconds=1)).date()
    found = []
    while day <= last:
        name = names(day)
        if name and name not in found:
            found.append(name)
        day += dt.timedelta(days=1)
    return ", ".join(found) or None


def _stretch(
    start: dt.datetime, end: dt.datetime, reason: businesstime.Reason, status: str | None, local: Local
) -> SlaStretch:
    return SlaStretch(
        start=start, end=end, start_local=local(start), end_local=local(end), reason=reason, status=status
    )


def _stretches(metric: SlaMetric, clock: clocks.Clock, end: dt.datetime, local: Local) -> list[SlaStretch]:
    start = metric.started_at
    if end <= start:
        return []
    pauses = [(p.start, min(p.end or end, end)) for p in metric.pauses if p.start < end]
    if metric.business and isinstance(clock, BusinessTime):
        explained = businesstime.explain(clock.schedule, start, end, pauses, max_stretches=MAX_STRETCHES)
        return [
            _stretch(
                s.start,
                s.end,
                s.reason,
                _pause_status(metric, s.start, end) if s.reason == "paused" else None,
                local,
            )
            for s in explained
        ]
    stretches: list[SlaStretch] = []
    cursor = start
    for pause_start, pause_end in sorted(pauses):
        pause_start = max(pause_start, cursor)
        if pause_start > cursor:
            stretches.append(_stretch(cursor, pause_start, "counted", None, local))
        if pause_end > pause_start:
            status = _pause_status(metric, pause_start, end)
            stretches.append(_stretch(pause_start, pause_end, "paused", status, local))
        cursor = max(cursor, pause_end)
    if end > cursor:
        stretches.append(_stretch(cursor, end, "counted", None, local))
    return stretches


def _until_due(metric: SlaMetric, clock: clocks.Clock, now: dt.datetime, local: Local) -> list[SlaInterval]:
    if metric.running_since is None or metric.due_at is None or metric.due_at <= now:
        return []
    start = max(now, metric.running_since)
    if metric.business and isinstance(clock, BusinessTime):
        try:
            found = businesstime.counted_intervals(clock.schedule, start, until=metric.due_at)
            spans = [(i.start, i.end) for i in itertools.islice(found, MAX_UNTIL_DUE)]
        except businesstime.BusinessTimeError:
            return []
    else:
        spans = [(start, metric.due_at)]
    return [SlaInterval(start=a, end=b, start_local=local(a), end_local=local(b)) for a, b in spans]


def _optional(local: Local, instant: dt.datetime | None) -> dt.datetime | None:
    return None if instant is None else local(instant)


def _explain_metric(
    metric: SlaMetric,
    clock: clocks.Clock,
    now: dt.datetime,
    zone: zoneinfo.ZoneInfo,
    names: HolidayNames,
) -> SlaMetricExplanation:
    def local(instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(zone)

    end = metric.fulfilled_at or metric.cancelled_at or now
    left = remaining_seconds(metric, clock, now)
    consumed = metric.consumed_seconds
    if metric.running_since is not None and metric.fulfilled_at is None and metric.cancelled_at is None:
        consumed += clock.elapsed(metric.running_since, now).total_seconds()
    warn_at = clock_metric(metric).warn_at
    stretches = _stretches(metric, clock, end, local)
    for stretch in stretches:
        if stretch.reason == "holiday":
            stretch.holiday = _holiday(stretch.start, stretch.end, local, names)
    return SlaMetricExplanation(
        metric=metric.metric,
        cycle=metric.cycle,
        state=metric.state,
        summary=summary(metric, left, now, zone),
        target_minutes=metric.target_minutes,
        target_seconds=metric.target_seconds,
        warning_seconds=metric.warning_seconds,
        business=metric.business,
        started_at=metric.started_at,
        started_at_local=local(metric.started_at),
        due_at=metric.due_at,
        due_at_local=_optional(local, metric.due_at),
        warn_at=warn_at,
        warn_at_local=_optional(local, warn_at),
        warned_at=metric.warned_at,
        fulfilled_at=metric.fulfilled_at,
        cancelled_at=metric.cancelled_at,
        breached_at=metric.breached_at,
        first_breached_at=metric.first_breached_at,
        consumed_seconds=consumed,
        remaining_seconds=left,
        stretches=stretches,
        until_due=_until_due(metric, clock, now, local),
        earlier_cycles=metric.earlier_cycles,
    )


def _most_pressing(metrics: list[SlaMetricExplanation]) -> SlaMetricExplanation | None:
    running = [m for m in metrics if m.state in ("running", "breached") and m.due_at is not None]
    if running:
        return min(running, key=lambda m: m.due_at or m.started_at)
    paused = [m for m in metrics if m.state == "paused"]
    if paused:
        return paused[0]
    ended = [m for m in metrics if (m.fulfilled_at or m.cancelled_at) is not None]
    return max(ended, key=lambda m: m.fulfilled_at or m.cancelled_at or m.started_at, default=None)


def explain(
    ticket_id: int,
    sla: TicketSla,
    business: clocks.Clock,
    now: dt.datetime,
    time_zone: str | None,
    names: HolidayNames = no_holiday_names,
) -> TicketSlaExplanation:
    zone = zoneinfo.ZoneInfo(time_zone or "UTC")
    metrics = [
        _explain_metric(m, business if m.business else clocks.CALENDAR_TIME, now, zone, names)
        for m in sla.metrics
    ]
    pressing = _most_pressing(metrics)
    return TicketSlaExplanation(
        ticket_id=ticket_id,
        policy_id=sla.policy_id,
        policy_version=sla.policy_version,
        calendar_id=sla.calendar_id,
        calendar_version=sla.calendar_version,
        time_zone=time_zone,
        local_time_zone=zone.key,
        computed_at=now,
        summary="no SLA clock has started" if pressing is None else pressing.summary,
        metrics=metrics,
    )
