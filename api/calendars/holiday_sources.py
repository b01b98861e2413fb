"""Holidays from outside: a country's public holidays (the ``holidays`` package).

Sources (this one, and iCalendar files in :mod:`api.calendars.ical`) return :class:`Holiday` lists (dated,
not yearly: movable feasts move) or raise :class:`HolidaySourceError` with a message fit for a client.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def country_holidays(country: str, subdivision: str | None, years: Sequence[int]) -> list[Holiday]:
    """The public holidays of a country (and subdivision) in the given years, in date order.

    Codes are case-insensitive. A year outside the package's data for the country is an error (its
    answer there would be an empty list, which reads as "no holidays that year").
    """
    try:
        entity = holiday_data.country_holidays(country.upper())
    except NotImplementedError as exc:
        raise HolidaySourceError(str(exc), "$.country") from None
    code = None
    if subdivision is not None:
        codes = {known.upper(): known for known in entity.subdivisions}
        code = codes.get(subdivision.upper())
        if code is None:
            known = ", ".join(entity.subdivisions) or "none"
            message = f"{country.upper()} has no subdivision {subdivision!r}; its subdivisions: {known}"
            raise HolidaySourceError(message, "$.subdivision")
    for index, year in enumerate(years):
        if not entity.start_year <= year <= entity.end_year:
            message = (
                f"no holiday data for {country.upper()} in {year}: "
                f"the data covers {entity.start_year} to {entity.end_year}"
            )
            raise HolidaySourceError(message, f"$.years[{index}]")
    found = holiday_data.country_holidays(country.upper(), subdiv=code, years=sorted(set(years)))
    return [Holiday(date=day, name=holiday_name(name)) for day, name in sorted(found.items())]


def holiday_name(name: str) -> str:
    """A name as a holiday may carry it: no NUL, at most 200 characters."""
    return name.replace("\x00", "")[:_NAME_LENGTH]
