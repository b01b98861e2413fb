"""SLA state as of a response: each metric's remaining time at this instant.

A ticket's stored SLA state is exact as of its last change; how much time is left depends on the
instant it is read and, for business time, on the calendar's open hours until then. Ticket documents
are therefore completed when they are sent, here, with the clock of the calendar version the metrics
were computed with.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import asyncpg

from api.calendars.cache import CalendarCache
from api.calendars.store import load_schedule
from api.sla import clocks
from api.sla.hook import BusinessTime
from api.sla.schemas import SlaMetric, TicketSla


def remaining_seconds(metric: SlaMetric, clock: clocks.Clock, now: dt.datetime) -> float | None:
    """SLA time left at ``now``: negative (wall-clock time past due) once overdue; null when fulfilled."""
    if metric.fulfilled_at is not None:
        return None
    if metric.running_since is not None and metric.due_at is not None and now >= metric.due_at:
        return -(now - metric.due_at).total_seconds()
    left = dt.timedelta(minutes=metric.target_minutes) - dt.timedelta(seconds=metric.consumed_seconds)
    if metric.running_since is not None:
        left -= clock.elapsed(metric.running_since, now)
    return left.total_seconds()


class Clocks:
    """The clocks of the calendars (and versions) SLA states were computed with, loaded once per response."""

    def __init__(self, raw: asyncpg.Connection | asyncpg.Pool, calendars: CalendarCache | None) -> None:
        self._raw = raw
        self._calendars = calendars
        self._loaded: dict[tuple[uuid.UUID, int | None], clocks.Clock] = {}

    async def business(self, sla: TicketSla) -> clocks.Clock:
        if sla.calendar_id is None:
            return clocks.CALENDAR_TIME
        key = (sla.calendar_id, sla.calendar_version)
        if key not in self._loaded:
            getter = self._calendars.get if self._calendars is not None else load_schedule
            loaded = await getter(self._raw, sla.calendar_id, sla.calendar_version)
            self._loaded[key] = clocks.CALENDAR_TIME if loaded is None else BusinessTime(loaded.schedule)
        return self._loaded[key]


async def complete(slas: Iterable[TicketSla | None], found: Clocks, now: dt.datetime) -> None:
    """Fill in every metric's ``remaining_seconds`` as of ``now``."""
    for sla in slas:
        if sla is None:
            continue
        business = await found.business(sla)
        for metric in sla.metrics:
            clock = business if metric.business else clocks.CALENDAR_TIME
            metric.remaining_seconds = remaining_seconds(metric, clock, now)
