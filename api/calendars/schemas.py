"""Wire types of the business calendars API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

MAX_INTERVALS = 200
MAX_HOLIDAYS = 3000
MAX_PAUSES = 1000
MAX_MINUTES = 1_000_000
"""The largest what-if budget (about 694 days of round-the-clock time)."""
MAX_LISTED = 5000
"""The most intervals or stretches a what-if answer lists (more is a 422 asking for less)."""

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
StartTime = Annotated[str, msgspec.Meta(pattern=r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$", examples=["09:00"])]
EndTime = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        examples=["17:00"],
        description='Local wall time; `"24:00"` is the end of the day. Earlier than `start`: the next day.',
    ),
]
CalendarName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Berlin office"])]
TimeZone = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=100, examples=["Europe/Berlin"], description="An IANA time zone."),
]
HolidayName = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00]*$")]
Instant = Annotated[dt.datetime, msgspec.Meta(tz=True, examples=["2025-12-24T15:00:00Z"])]
Year = Annotated[int, msgspec.Meta(ge=1900, le=2200)]


class OpeningInterval(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Open from ``start`` to ``end`` on ``day`` (local wall time, minute precision).

    ``start`` later than ``end`` is an overnight shift that ends on the next day; ``"24:00"`` ends at
    midnight. Several intervals a day are fine; they must not overlap (touching is fine).
    """

    day: Weekday
    start: StartTime
    end: EndTime


class Holiday(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A local date on which no opening interval starts. ``yearly``: the same month and day every year."""

    date: dt.date
    yearly: bool = False
    name: HolidayName = ""


Weekly = Annotated[list[OpeningInterval], msgspec.Meta(max_length=MAX_INTERVALS)]
Holidays = Annotated[list[Holiday], msgspec.Meta(max_length=MAX_HOLIDAYS)]


_WEEKLY = "Opening intervals: at least one unless `always_open` is true, and none when it is."
_ALWAYS_OPEN = "Open around the clock: then `weekly` is empty."


class CalendarCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A business calendar: opening intervals in a time zone (or always open), and holidays.

    Give ``weekly`` intervals, or ``always_open: true`` and no intervals.
    """

    name: CalendarName
    time_zone: TimeZone
    weekly: Annotated[Weekly, msgspec.Meta(description=_WEEKLY)] = []
    always_open: Annotated[bool, msgspec.Meta(description=_ALWAYS_OPEN)] = False
    holidays: Holidays = []


class CalendarUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; omitted fields keep their value. ``weekly`` and ``holidays`` are replaced whole.

    The calendar after the change must have ``weekly`` intervals, or ``always_open: true`` and none.
    """

    name: CalendarName | msgspec.UnsetType = msgspec.UNSET
    time_zone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    weekly: Annotated[Weekly, msgspec.Meta(description=_WEEKLY)] | msgspec.UnsetType = msgspec.UNSET
    always_open: Annotated[bool, msgspec.Meta(description=_ALWAYS_OPEN)] | msgspec.UnsetType = msgspec.UNSET
    holidays: Holidays | msgspec.UnsetType = msgspec.UNSET


class CalendarWarning(msgspec.Struct, kw_only=True):
    """Something valid but worth knowing, e.g. a boundary that falls inside a DST transition."""

    path: str
    """JSON path of the field concerned, e.g. ``$.weekly[0].start``."""
    message: str


class CalendarRead(msgspec.Struct, kw_only=True):
    """A business calendar. ``version`` increases with every change and is the ``ETag``."""

    id: uuid.UUID
    name: str
    time_zone: str
    always_open: bool
    weekly: list[OpeningInterval]
    holidays: list[Holiday]
    """Dated holidays by date, then yearly ones by the date given."""
    version: int
    warnings: list[CalendarWarning]
    """Boundaries that fall inside a DST transition within the next two years, and how they resolve."""
    created_at: dt.datetime
    updated_at: dt.datetime


class HolidayImport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Public holidays of a country (ISO 3166-1 code) and optionally a subdivision (e.g. ``BY``)."""

    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2,3}$", examples=["DE"])]
    subdivision: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,10}$", examples=["BY"])] | None = None
    years: Annotated[list[Year], msgspec.Meta(min_length=1, max_length=10, examples=[[2025, 2026]])]


class Pause(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Time between ``from`` and ``to`` does not count."""

    from_: Instant = msgspec.field(name="from")
    to: Instant


Pauses = Annotated[list[Pause], msgspec.Meta(max_length=MAX_PAUSES)]


class DueRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """When are ``minutes`` of business time after ``start`` used up?"""

    start: Instant
    minutes: Annotated[int, msgspec.Meta(ge=0, le=MAX_MINUTES)]
    pauses: Pauses = []


class IntervalRead(msgspec.Struct, kw_only=True):
    """``[start, end)``, UTC."""

    start: dt.datetime
    end: dt.datetime


class DueResult(msgspec.Struct, kw_only=True):
    calendar_id: uuid.UUID
    calendar_version: int
    start: dt.datetime
    minutes: int
    due_at: dt.datetime
    """The earliest instant at which ``minutes`` of business time have counted since ``start``."""
    intervals: list[IntervalRead]
    """The counted intervals from ``start`` to ``due_at``; they add up to ``minutes``. At most 5,000: an
    amount that takes more is refused (422 on ``$.minutes``)."""


class ElapsedRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How much business time lies between ``from`` and ``to``?"""

    from_: Instant = msgspec.field(name="from")
    to: Instant
    pauses: Pauses = []


StretchReason = Literal["counted", "outside_hours", "holiday", "paused"]


class StretchRead(msgspec.Struct, kw_only=True):
    """``[start, end)`` and why it counted or not."""

    start: dt.datetime
    end: dt.datetime
    reason: StretchReason


class ElapsedResult(msgspec.Struct, kw_only=True):
    calendar_id: uuid.UUID
    calendar_version: int
    from_: dt.datetime = msgspec.field(name="from")
    to: dt.datetime
    seconds: float
    """Business seconds between ``from`` and ``to`` (exact to the microsecond)."""
    minutes: float
    stretches: list[StretchRead]
    """``from`` to ``to`` cut into consecutive stretches: ``counted``, or why not (``outside_hours``,
    ``holiday``: an opening removed by a holiday, ``paused``: open but paused). At most 5,000: a span
    that holds more is refused (422 on ``$.to``, naming how far a shorter one may reach)."""
