"""Uploaded iCalendar files can neither hang nor starve the service (through a real ``helpdesk serve``).

Files that used to hang the process (an open-ended search for the next occurrence that never ended, a
time zone whose rules repeat every minute) and files whose expansion is merely very costly are sent with
a client deadline, while ``/healthz`` is asked again and again with a deadline of one second: the
answers must be a 200 or a clear 422, and the health check must never wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess

import httpx
import pytest

from api.cli import _create_key
from tests.conftest import embedded_data_dir
from tests.test_cli import Serve

CALENDARS = "/v1/business-calendars"
# Generous for a busy machine: the point is that an answer comes at all, not how fast.
ANSWER_WITHIN = 60.0
HEALTH_WITHIN = 1.0


def ical(*events: str) -> bytes:
    body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//helpdesk tests//EN\r\n"
    return (body + "".join(events) + "END:VCALENDAR\r\n").encode()


def all_day(uid: str, day: dt.date, name: str, rule: str | None = None) -> str:
    text = (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{day:%Y%m%d}\r\n"
        f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}\r\nSUMMARY:{name}\r\n"
    )
    return text + (f"RRULE:{rule}\r\n" if rule else "") + "END:VEVENT\r\n"


NEW_YEAR = ical(
    all_day("ny1", dt.date(2025, 1, 1), "New Year's Day"),
    all_day("ny2", dt.date(2025, 1, 2), "Day after New Year's Day"),
)
CONSECUTIVE = ical(*(all_day(f"c{n}", dt.date(2025, 12, 24 + n), f"Closure {n}") for n in range(5)))
MINUTELY_ZONE = ical(
    "BEGIN:VTIMEZONE\r\nTZID:Every minute\r\n"
    "BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nRRULE:FREQ=MINUTELY\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700301T000000\r\nRRULE:FREQ=YEARLY\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n",
    "BEGIN:VEVENT\r\nUID:tz\r\nDTSTART;TZID=Every minute:20250101T100000\r\n"
    "DTEND;TZID=Every minute:20250101T110000\r\nSUMMARY:Meeting\r\nEND:VEVENT\r\n",
)
# 30 February never comes: dateutil walks day by day to the year 9999 looking for it, seconds per event.
NEVER = ical(
    *(all_day(f"n{n}", dt.date(2025, 1, 1), "Never", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30") for n in range(20))
)
# A country's twenty years of public holidays: 2,000 dated all-day events.
LEGITIMATE = ical(
    *(all_day(f"h{n}", dt.date(2020, 1, 1) + dt.timedelta(days=3 * n), f"Holiday {n}") for n in range(2000))
)


async def _healthy_throughout(base: str, done: asyncio.Event) -> int:
    """Ask /healthz until ``done``; each answer must come within a second. Returns how many came."""
    answered = 0
    async with httpx.AsyncClient(base_url=base, timeout=HEALTH_WITHIN) as client:
        while not done.is_set():
            r = await client.get("/healthz")
            assert r.status_code == 200
            answered += 1
            await asyncio.sleep(0.05)
    return answered


@pytest.mark.slow
async def test_no_file_hangs_or_starves_the_service(database_url):
    token = await _create_key(database_url, "ical limits test", "admin")
    serve = Serve(
        embedded_data_dir(),
        DATABASE_URL=database_url,
        HELPDESK_RUN_WORKER="false",
        HELPDESK_ICAL_EXPANSION_SECONDS="2",
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        await asyncio.to_thread(serve.wait_ready)
        async with httpx.AsyncClient(base_url=serve.base, headers=headers, timeout=ANSWER_WITHIN) as client:
            r = await client.post(
                CALENDARS, json={"name": "Berlin", "time_zone": "Europe/Berlin", "always_open": True}
            )
            assert r.status_code == 201, r.text
            url = f"{CALENDARS}/{r.json()['id']}/holidays/ical"

            async def upload(body: bytes, **params: int) -> httpx.Response:
                return await client.post(
                    url,
                    content=body,
                    params={"from_year": 2025, "to_year": 2025, **params},
                    headers={"Content-Type": "text/calendar"},
                )

            done = asyncio.Event()
            health = asyncio.create_task(_healthy_throughout(serve.base, done))
            try:
                r = await upload(NEW_YEAR)
                assert r.status_code == 200, r.text
                days = {h["date"] for h in r.json()["holidays"]}
                assert {"2025-01-01", "2025-01-02"} <= days

                r = await upload(CONSECUTIVE)
                assert r.status_code == 200, r.text
                assert {f"2025-12-{24 + n}" for n in range(5)} <= {h["date"] for h in r.json()["holidays"]}

                r = await upload(MINUTELY_ZONE)
                assert r.status_code == 422, r.text
                assert "time zone" in r.json()["detail"]

                r = await upload(NEVER)
                assert r.status_code == 422, r.text
                assert r.json()["errors"][0]["path"] == "body"
                assert "too costly" in r.json()["detail"]

                r = await upload(LEGITIMATE, from_year=2020, to_year=2029)
                assert r.status_code == 200, r.text
                assert len(r.json()["holidays"]) > 1200
            finally:
                done.set()
                answered = await health
            assert answered > 0
    finally:
        _stop(serve)
    assert "Traceback" not in serve.log


def _stop(serve: Serve) -> None:
    """Stop the server; one whose event loop hangs cannot handle SIGINT, so it is killed."""
    try:
        serve.stop()
    except subprocess.TimeoutExpired:
        serve.proc.kill()
        serve.proc.wait()
        serve.log = ""
        raise
