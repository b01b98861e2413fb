"""Holidays from outside: a country's public holidays (the ``holidays`` package) and iCalendar files.

Both return :class:`Holiday` lists (dated, not yearly: movable feasts move) or raise
:class:`HolidaySourceError` with a message fit for a client. Uploaded files are untrusted input, so the
expansion of recurring events is bounded (events, rule frequency, occurrences, span of years).
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Iterable, Iterator
from typing import Any

import holidays as holiday_data
import icalendar
import recurring_ical_events

from api.calendars.schemas import MAX_HOLIDAYS, Holiday

MAX_EVENTS = 2000
MAX_OCCURRENCES = 20_000
MAX_YEARS = 10
# Holidays are days: a rule repeating more often than daily is no holiday calendar, and expanding one
# would cost far more than the file's size suggests.
_SUB_DAILY = {"SECONDLY", "MINUTELY", "HOURLY"}
_NAME_LENGTH = 200


class HolidaySourceError(ValueError):
    """The source cannot give holidays; ``field`` names the input at fault (a JSON path or ``body``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def country_holidays(country: str, subdivision: str | None, years: Iterable[int]) -> list[Holiday]:
    """The public holidays of a country (and subdivision) in the given years, in date order."""
    try:
        found = holiday_data.country_holidays(country.upper(), subdiv=subdivision, years=sorted(set(years)))
    except NotImplementedError as exc:
        field = "$.subdivision" if "subdivision" in str(exc).lower() else "$.country"
        raise HolidaySourceError(str(exc), field) from None
    return [Holiday(date=day, name=_name(name)) for day, name in sorted(found.items())]


def ical_holidays(
    calendar: icalendar.Calendar, first_year: int, last_year: int, time_zone: str
) -> list[Holiday]:
    """Every day covered by an event of an iCalendar file within ``first_year``..``last_year``.

    Recurring events are expanded; an event covers each local date (in ``time_zone``) it overlaps, so a
    multi-day event gives one holiday per day. All-day events end on their exclusive ``DTEND`` date.
    """
    if last_year < first_year or last_year - first_year >= MAX_YEARS:
        raise HolidaySourceError(f"give from 1 to {MAX_YEARS} years (from_year to to_year)", "to_year")
    zone = zoneinfo.ZoneInfo(time_zone)
    window = (dt.date(first_year, 1, 1), dt.date(last_year + 1, 1, 1))
    days: dict[dt.date, str] = {}
    try:
        occurrences = recurring_ical_events.of(calendar).after(window[0])
        for event in itertools.islice(occurrences, MAX_OCCURRENCES + 1):
            if len(days) > MAX_HOLIDAYS:
                break
            start, end = _local_days(event, zone)
            if start >= window[1]:
                break
            for day in _days(max(start, window[0]), min(end, window[1])):
                days.setdefault(day, _name(str(event.get("SUMMARY", ""))))
    except HolidaySourceError:
        raise
    except Exception as exc:  # the expansion of a malformed file fails in many library-specific ways
        raise HolidaySourceError(f"the calendar's events cannot be expanded: {exc}", "body") from None
    if len(days) > MAX_HOLIDAYS:
        raise HolidaySourceError(f"the file covers more than {MAX_HOLIDAYS} days", "body")
    return [Holiday(date=day, name=name) for day, name in sorted(days.items())]


def parse_ical(body: bytes) -> icalendar.Calendar:
    """Parse an uploaded file, refusing what is no iCalendar and what would be too costly to expand."""
    try:
        calendar = icalendar.Calendar.from_ical(body)
    except Exception as exc:  # icalendar reports malformed input with assorted exception types
        raise HolidaySourceError(f"not an iCalendar file: {exc}", "body") from None
    if not isinstance(calendar, icalendar.Calendar):
        raise HolidaySourceError("not an iCalendar file (expected one VCALENDAR)", "body")
    events = calendar.walk("VEVENT")
    if len(events) > MAX_EVENTS:
        raise HolidaySourceError(f"the file has more than {MAX_EVENTS} events", "body")
    for event in events:
        rules = event.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
            frequency = rule.get("FREQ", [""])
            if any(str(f).upper() in _SUB_DAILY for f in frequency):
                raise HolidaySourceError("recurring events must not repeat more often than daily", "body")
    return calendar


def _local_days(event: Any, zone: zoneinfo.ZoneInfo) -> tuple[dt.date, dt.date]:
    """The first local date an occurrence covers and the date after its last."""
    start, end = event.get("DTSTART"), event.get("DTEND")
    if start is None:
        raise HolidaySourceError("an event has no DTSTART", "body")
    begin = start.dt
    finish = end.dt if end is not None else begin
    if not isinstance(begin, dt.datetime):  # an all-day event: DTEND is exclusive
        stop = finish if isinstance(finish, dt.date) and not isinstance(finish, dt.datetime) else begin
        return begin, max(stop, begin + dt.timedelta(days=1))
    first = _local(begin, zone)
    last = _local(finish, zone) if isinstance(finish, dt.datetime) else first
    # A timed event covers the dates it overlaps; one ending exactly at midnight does not cover the next.
    last_day = (last - dt.timedelta(microseconds=1)).date() if last > first else first.date()
    return first.date(), last_day + dt.timedelta(days=1)


def _local(value: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """Local wall time in the calendar's zone; floating (naive) times are taken as local already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(zone).replace(tzinfo=None)


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day < end:
        yield day
        day += dt.timedelta(days=1)


def _name(name: str) -> str:
    return name.replace("\x00", "")[:_NAME_LENGTH]
