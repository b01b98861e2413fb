"""SLA state as of a response: each metric's remaining time at this instant.

A ticket's stored SLA state is exact as of its last change; how much time is left depends on the
instant it is read and, for business time, on the calendar's open hours until then. Ticket documents
are therefore completed when they are sent, here, with the clock of the calendar version the metrics
were computed with.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable

import asyncpg
import msgspec

from api.calendars.cache import CalendarCache
from api.calendars.schemas import Holiday
from api.calendars.store import load_schedule
from api.sla import clocks
from api.sla.hook import BusinessTime
from api.sla.schemas import SlaMetric, TicketSla

HolidayNames = Callable[[dt.date], str | None]
"""The name of the holiday on a local date of the calendar (None: no holiday, or an unnamed one)."""


def no_holiday_names(_day: dt.date) -> str | None:
    return None


def remaining_seconds(metric: SlaMetric, clock: clocks.Clock, now: dt.datetime) -> float | None:
    """SLA time left at ``now``: negative (wall-clock time past due) once overdue; null when ended."""
    if metric.fulfilled_at is not None or metric.cancelled_at is not None:
        return None
    if metric.running_since is not None and metric.due_at is not None and now >= metric.due_at:
        return -(now - metric.due_at).total_seconds()
    left = dt.timedelta(seconds=metric.target_seconds) - dt.timedelta(seconds=metric.consumed_seconds)
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


# The version the SLA was computed with; the current calendar when that version is not recorded.
_HOLIDAYS = """
SELECT holidays FROM (
    SELECT 0 AS preference, holidays::text FROM business_calendar_versions
    WHERE calendar_id = $1 AND version = $2
    UNION ALL
    SELECT 1, holidays::text FROM business_calendars WHERE id = $1
) found ORDER BY preference LIMIT 1
"""


async def holiday_names(raw: asyncpg.Connection | asyncpg.Pool, sla: TicketSla) -> HolidayNames:
    """The holiday names of the calendar version the ticket's SLA was computed with (the explanation
    names the holiday that closed a stretch)."""
    if sla.calendar_id is None:
        return no_holiday_names
    document = await raw.fetchval(_HOLIDAYS, sla.calendar_id, sla.calendar_version or 0)
    if document is None:
        return no_holiday_names
    holidays = msgspec.json.decode(document, type=list[Holiday], strict=False)
    dated = {h.date: h.name for h in holidays if not h.yearly and h.name}
    yearly = {(h.date.month, h.date.day): h.name for h in holidays if h.yearly and h.name}

    def name(day: dt.date) -> str | None:
        return dated.get(day) or yearly.get((day.month, day.day))

    return name
