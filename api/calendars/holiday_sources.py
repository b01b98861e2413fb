"""Holidays from outside: a country's public holidays (the ``holidays`` package).

Sources (this one, and iCalendar files in :mod:`api.calendars.ical`) return :class:`Holiday` lists (dated,
not yearly: movable feasts move) or raise :class:`HolidaySourceError` with a message fit for a client.
"""

from __future__ import annotations

from collections.abc import Iterable

import holidays as holiday_data

from api.calendars.schemas import Holiday

_NAME_LENGTH = 200


class HolidaySourceError(ValueError):
    """The source cannot give holidays; ``field`` names the input at fault (a JSON path or ``body``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[type[HolidaySourceError], tuple[str, str]]:
        # It crosses a process boundary (api.calendars.isolated): pickle both arguments.
        return (type(self), (str(self), self.field))


def country_holidays(country: str, subdivision: str | None, years: Iterable[int]) -> list[Holiday]:
    """The public holidays of a country (and subdivision) in the given years, in date order."""
    try:
        found = holiday_data.country_holidays(country.upper(), subdiv=subdivision, years=sorted(set(years)))
    except NotImplementedError as exc:
        field = "$.subdivision" if "subdivision" in str(exc).lower() else "$.country"
        raise HolidaySourceError(str(exc), field) from None
    return [Holiday(date=day, name=holiday_name(name)) for day, name in sorted(found.items())]


def holiday_name(name: str) -> str:
    """A name as a holiday may carry it: no NUL, at most 200 characters."""
    return name.replace("\x00", "")[:_NAME_LENGTH]
