"""What calendars and uploads cost when their shape is hostile (issue 16, section 5). Prints figures.

- SLA arithmetic on a calendar of 196 one-minute openings a week with a year's business-time target
  (due in about fifty years): the first ticket (builds the schedule's day table) and each further one
  (``add`` for the due instant, ``elapsed`` for the time left), in CPU seconds.
- iCalendar expansion in its isolated child (``api.calendars.isolated``): a file of 2,000 dated all-day
  holidays, and one whose rule never matches (stopped at the deadline).

Usage: ``.venv/bin/python bench/calendar_limits.py``. No database needed.
"""

from __future__ import annotations

import datetime as dt
import time

from api.calendars import businesstime, ical, isolated

ROUNDS = 3


def _weekly() -> tuple[businesstime.WeeklyInterval, ...]:
    return tuple(
        businesstime.WeeklyInterval(day, h * 60 + m, h * 60 + m + 1)
        for day in range(7)
        for h in range(7)
        for m in (0, 15, 30, 45)
    )


def sla_arithmetic() -> None:
    start = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
    amount = dt.timedelta(minutes=525_600)
    for _ in range(ROUNDS):
        schedule = businesstime.Schedule("Europe/Berlin", _weekly())
        began = time.process_time()
        first = businesstime.add(schedule, start, amount)
        built = time.process_time() - began
        began = time.process_time()
        for k in range(100):
            at = start + dt.timedelta(minutes=37 * k)
            businesstime.add(schedule, at, amount)
            businesstime.elapsed(schedule, at, first)
        each = (time.process_time() - began) / 100
        print(f"huge target: first ticket {built:.3f} s CPU, each further ticket {each * 1000:.2f} ms CPU")


def _file(events: list[str]) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\n" + "".join(events) + "END:VCALENDAR\r\n"
    ).encode()


def _event(n: int, day: dt.date, rule: str = "") -> str:
    text = f"BEGIN:VEVENT\r\nUID:{n}\r\nDTSTART;VALUE=DATE:{day:%Y%m%d}\r\nSUMMARY:Holiday {n}\r\n"
    return text + (f"RRULE:{rule}\r\n" if rule else "") + "END:VEVENT\r\n"


def ical_expansion() -> None:
    legitimate = _file([_event(n, dt.date(2020, 1, 1) + dt.timedelta(days=3 * n)) for n in range(2000)])
    never = _file([_event(n, dt.date(2025, 1, 1), "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30") for n in range(20)])
    limits = {"seconds": 5.0, "memory_bytes": 1024 * 1024 * 1024}
    for _ in range(ROUNDS):
        began = time.process_time()
        ical.holidays_in_file(legitimate, 2020, 2029, "Europe/Berlin")
        cpu = time.process_time() - began
        began = time.monotonic()
        found = isolated.run(ical.holidays_in_file, legitimate, 2020, 2029, "Europe/Berlin", **limits)
        took = time.monotonic() - began
        began = time.monotonic()
        try:
            isolated.run(ical.holidays_in_file, never, 2025, 2025, "Europe/Berlin", **limits)
            outcome = "answered"
        except isolated.TooCostly:
            outcome = "stopped"
        print(
            f"ical: 2,000 holidays ({len(found)} in the years asked) {cpu:.3f} s CPU in-process, "
            f"{took:.3f} s wall in the child; "
            f"never-matching rules {outcome} after {time.monotonic() - began:.2f} s"
        )


if __name__ == "__main__":
    sla_arithmetic()
    ical_expansion()
