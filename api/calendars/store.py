"""Stored calendars → :class:`Schedule`: the conversion, and loading one calendar on an asyncpg connection.

This is what the SLA engine needs on every ticket write (through :mod:`api.calendars.cache`), so it is one
static statement on a plain asyncpg connection, with no SQLAlchemy in the way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, NamedTuple

import asyncpg
import msgspec

from api.calendars.businesstime import Schedule, WeeklyInterval
from api.calendars.schemas import WEEKDAYS, Holiday, OpeningInterval

CHANGED_CHANNEL = "helpdesk_calendar_changed"
"""``NOTIFY`` channel; the payload is the changed calendar's id, sent in the changing transaction."""


class LoadedCalendar(NamedTuple):
    schedule: Schedule
    version: int


def clock_minutes(clock: str) -> int:
    """``"09:30"`` → 570; ``"24:00"`` → 1440."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def weekly_intervals(weekly: list[OpeningInterval]) -> tuple[WeeklyInterval, ...]:
    return tuple(
        WeeklyInterval(WEEKDAYS.index(i.day), clock_minutes(i.start), clock_minutes(i.end)) for i in weekly
    )


def to_schedule(
    time_zone: str, always_open: bool, weekly: list[OpeningInterval], holidays: list[Holiday]
) -> Schedule:
    """The schedule a calendar describes; raises :class:`~api.calendars.businesstime.ScheduleError`."""
    return Schedule(
        time_zone=time_zone,
        weekly=weekly_intervals(weekly),
        always_open=always_open,
        holidays=frozenset(h.date for h in holidays if not h.yearly),
        yearly_holidays=frozenset((h.date.month, h.date.day) for h in holidays if h.yearly),
    )


def stored_schedule(time_zone: str, always_open: bool, weekly: Any, holidays: Any) -> Schedule:
    """The schedule of a stored row (``weekly`` and ``holidays`` as decoded JSON)."""
    return to_schedule(
        time_zone,
        always_open,
        msgspec.convert(weekly, list[OpeningInterval]),
        msgspec.convert(holidays, list[Holiday], strict=False),
    )


_CURRENT = (
    "SELECT version, time_zone, always_open, weekly::text AS weekly, holidays::text AS holidays "
    "FROM business_calendars WHERE id = $1"
)
_VERSION = (
    "SELECT version, time_zone, always_open, weekly::text AS weekly, holidays::text AS holidays "
    "FROM business_calendar_versions WHERE calendar_id = $1 AND version = $2"
)


async def load_schedule(
    conn: asyncpg.Connection, calendar_id: uuid.UUID, version: int | None = None
) -> LoadedCalendar | None:
    """The current schedule of a calendar and its version (or the given past ``version``); None if the
    calendar (or that version) does not exist."""
    if version is None:
        row = await conn.fetchrow(_CURRENT, calendar_id)
    else:
        row = await conn.fetchrow(_VERSION, calendar_id, version)
    if row is None:
        return None
    schedule = stored_schedule(
        row["time_zone"],
        row["always_open"],
        msgspec.json.decode(row["weekly"]),
        msgspec.json.decode(row["holidays"]),
    )
    return LoadedCalendar(schedule, row["version"])


def holiday_identity(holiday: Holiday) -> tuple[int, int, int]:
    """What makes two holidays the same: the date, or for yearly ones the month and day."""
    if holiday.yearly:
        return (0, holiday.date.month, holiday.date.day)
    return (holiday.date.year, holiday.date.month, holiday.date.day)


def holiday_order(holiday: Holiday) -> tuple[bool, dt.date]:
    """Stored order: dated holidays by date, then yearly ones by the date given."""
    return (holiday.yearly, holiday.date)
