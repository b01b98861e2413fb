"""Holidays from an uploaded iCalendar file (RFC 5545): parse, check, expand. Pure, and run isolated.

Uploaded files are untrusted input and their expansion happens in third-party code, so the work is
bounded twice. Here, by what a file may say: a count of events and components, rules (of events *and*
of time zones) that repeat at most daily, at most one time of day per rule, and a cap on the occurrences
expanded within the years asked (never an open-ended search for "the next one"). Around it, by
:mod:`api.calendars.isolated`: a deadline and a memory cap, since a rule that never matches (30 February,
daily) costs seconds inside dateutil whatever the years asked.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import icalendar
import recurring_ical_events

from api.calendars.holiday_sources import HolidaySourceError, holiday_name
from api.calendars.schemas import MAX_HOLIDAYS, Holiday

MAX_EVENTS = 2000
MAX_COMPONENTS = 10_000
"""Events, time zones and their observances, alarms...: everything a file may hold."""
MAX_OCCURRENCES = 20_000
"""Occurrences expanded within the years asked, over all events."""
MAX_YEARS = 10
# Holidays are days: a rule repeating more often than daily is no holiday calendar, and expanding one
# would cost far more than the file's size suggests. The same goes for the rules of a time zone, which
# are evaluated whenever a time in that zone is converted.
_SUB_DAILY = {"SECONDLY", "MINUTELY", "HOURLY"}
# Each value of these multiplies a rule's occurrences within a day.
_TIME_OF_DAY_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_OBSERVANCES = {"STANDARD", "DAYLIGHT"}


def holidays_in_file(body: bytes, first_year: int, last_year: int, time_zone: str) -> list[Holiday]:
    """Every local date (in ``time_zone``) covered by an event of the file in ``first_year``..``last_year``.

    Recurring events are expanded; an event covers each local date it overlaps, so a multi-day event
    gives one holiday per day. All-day events end on their exclusive ``DTEND`` date.
    """
    if last_year < first_year or last_year - first_year >= MAX_YEARS:
        raise HolidaySourceError(f"give from 1 to {MAX_YEARS} years (from_year to to_year)", "to_year")
    calendar = parse(body)
    return _expand(calendar, first_year, last_year, zoneinfo.ZoneInfo(time_zone))


def parse(body: bytes) -> icalendar.Calendar:
    """An uploaded file as a calendar, refusing what is no iCalendar and what would be too costly."""
    try:
        calendar = icalendar.Calendar.from_ical(body)
    except Exception as exc:  # icalendar reports malformed input with assorted exception types
        raise HolidaySourceError(f"not an iCalendar file: {exc}", "body") from None
    if not isinstance(calendar, icalendar.Calendar):
        raise HolidaySourceError("not an iCalendar file (expected one VCALENDAR)", "body")
    components = calendar.walk()
    if len(components) > MAX_COMPONENTS:
        raise HolidaySourceError(f"the file has more than {MAX_COMPONENTS} components", "body")
    if sum(1 for component in components if component.name == "VEVENT") > MAX_EVENTS:
        raise HolidaySourceError(f"the file has more than {MAX_EVENTS} events", "body")
    for component in components:
        for rule in _rules(component):
            _check_rule(component.name or "", rule)
    return calendar


def _rules(component: Any) -> list[Any]:
    found = []
    for name in ("RRULE", "EXRULE"):
        rules = component.get(name)
        found += rules if isinstance(rules, list) else [rules] if rules is not None else []
    return found


def _check_rule(component: str, rule: Any) -> None:
    frequencies = {str(f).upper() for f in rule.get("FREQ", [])}
    where = "a time zone's rules" if component in _OBSERVANCES else "recurring events"
    if frequencies & _SUB_DAILY:
        raise HolidaySourceError(f"{where} must not repeat more often than daily", "body")
    if component in _OBSERVANCES and frequencies != {"YEARLY"}:
        raise HolidaySourceError("a time zone's rules must repeat yearly (FREQ=YEARLY)", "body")
    for part in _TIME_OF_DAY_PARTS:
        if len(rule.get(part, [])) > 1:
            raise HolidaySourceError(f"{where} must name at most one time of day ({part})", "body")


def _expand(
    calendar: icalendar.Calendar, first_year: int, last_year: int, zone: zoneinfo.ZoneInfo
) -> list[Holiday]:
    window = (dt.date(first_year, 1, 1), dt.date(last_year + 1, 1, 1))
    # Timed events land on local dates in the calendar's zone: ask for a day more on either side.
    span = (dt.datetime(first_year - 1, 12, 31), dt.datetime(last_year + 1, 1, 2))
    days: dict[dt.date, str] = {}
    occurrences = 0
    try:
        # Series by series and lazily, each bounded by the span: the query's own open-ended search
        # (``after``) never stops once the file's last event is behind it.
        for series in recurring_ical_events.of(calendar).series:
            for occurrence in series.between(*span):
                occurrences += 1
                if occurrences > MAX_OCCURRENCES:
                    raise HolidaySourceError(
                        f"the file's events occur more than {MAX_OCCURRENCES} times in the years asked",
                        "body",
                    )
                start, end = _local_days(occurrence.start, occurrence.end, zone)
                name = holiday_name(str(occurrence.as_component(False).get("SUMMARY", "")))
                for day in _days(max(start, window[0]), min(end, window[1])):
                    days.setdefault(day, name)
                if len(days) > MAX_HOLIDAYS:
                    raise HolidaySourceError(f"the file covers more than {MAX_HOLIDAYS} days", "body")
    except HolidaySourceError:
        raise
    except Exception as exc:  # the expansion of a malformed file fails in many library-specific ways
        raise HolidaySourceError(f"the calendar's events cannot be expanded: {exc}", "body") from None
    return [Holiday(date=day, name=name) for day, name in sorted(days.items())]


def _local_days(begin: Any, finish: Any, zone: zoneinfo.ZoneInfo) -> tuple[dt.date, dt.date]:
    """The first local date an occurrence covers and the date after its last."""
    if not isinstance(begin, dt.datetime):  # an all-day event: its end date is exclusive
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


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range(max((end - start).days, 0))]
