"""A ticket's SLA explained for people: local times beside UTC, the warning instant, holiday names and a
one-line summary (through the API, and the pure text rules directly); agents may ask what-if questions."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from api.calendars import businesstime
from api.sla.explain import duration, explain, summary, when
from api.sla.hook import BusinessTime
from api.sla.schemas import SlaMetric, SlaPause, TicketSla
from tests.sla.helpers import URGENT, create_policy, metric_of
from tests.tickets.helpers import create_ticket

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # Monday 10:00 in Berlin


async def _calendar(client, admin_headers, holidays):
    body = {"name": "Berlin", "time_zone": "Europe/Berlin", "always_open": True, "holidays": holidays}
    r = await client.post("/v1/business-calendars", json=body, headers=admin_headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_explanation_gives_local_times_the_warning_instant_holiday_names_and_a_summary(
    client, admin_headers, agent
):
    _, headers = agent
    today = dt.datetime.now(BERLIN).date()
    calendar = await _calendar(client, admin_headers, [{"date": today.isoformat(), "name": "Test Day"}])
    body = {**URGENT, "calendar_id": calendar["id"]}
    body["targets"] = {
        "urgent": {"first_response": {"minutes": 60, "time": "business", "warning_minutes": 15}}
    }
    await create_policy(client, admin_headers, body)
    ticket = await create_ticket(client, headers, priority="urgent")
    first = metric_of(ticket, "first_response")
    due = dt.datetime.fromisoformat(first["due_at"])
    # Today is a holiday: the hour counts from tomorrow's midnight, Berlin time.
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), BERLIN)
    assert due == tomorrow + dt.timedelta(hours=1)

    r = await client.get(f"/v1/tickets/{ticket['id']}/sla", headers=headers)
    assert r.status_code == 200, r.text
    explained = r.json()
    assert (explained["time_zone"], explained["local_time_zone"]) == ("Europe/Berlin", "Europe/Berlin")
    [metric] = explained["metrics"]
    assert dt.datetime.fromisoformat(metric["due_at_local"]) == due
    assert metric["due_at_local"].endswith(due.astimezone(BERLIN).isoformat()[-6:])  # the local offset
    assert dt.datetime.fromisoformat(metric["warn_at"]) == due - dt.timedelta(minutes=15)
    assert dt.datetime.fromisoformat(metric["warn_at_local"]) == due - dt.timedelta(minutes=15)
    [holiday] = metric["stretches"]
    assert (holiday["reason"], holiday["holiday"]) == ("holiday", "Test Day")
    assert holiday["start_local"].startswith(today.isoformat())
    weekday = due.astimezone(BERLIN).strftime("%a")
    expected = f"first response: due {weekday} 01:00 Europe/Berlin, 1 h of business time left"
    assert metric["summary"] == expected
    assert explained["summary"] == expected


async def test_agents_may_ask_what_if_questions_of_a_calendar(client, admin_headers, agent):
    _, headers = agent
    calendar = await _calendar(client, admin_headers, [])
    url = f"/v1/business-calendars/{calendar['id']}"
    r = await client.post(
        f"{url}/due", json={"start": "2026-03-02T09:00:00Z", "minutes": 30}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == "2026-03-02T09:30:00Z"
    window = {"from": "2026-03-02T09:00:00Z", "to": "2026-03-02T10:00:00Z"}
    r = await client.post(f"{url}/elapsed", json=window, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["seconds"] == 3600
    # Asking changes nothing an agent could not change otherwise: the calendar stays admin-only.
    r = await client.patch(url, json={"name": "Mine"}, headers=headers)
    assert r.status_code == 403


# -- The text rules, directly ---------------------------------------------------------------------------


def _metric(**fields) -> SlaMetric:
    document = {
        "metric": "first_response",
        "cycle": 1,
        "state": "running",
        "target_minutes": 60,
        "target_seconds": 3600,
        "business": True,
        "warning_minutes": 15,
        "warning_seconds": 900,
        "started_at": NOW,
        "running_since": NOW,
        "consumed_seconds": 0.0,
        "due_at": NOW + dt.timedelta(hours=1),
        "warned_at": None,
        "breached_at": None,
        "fulfilled_at": None,
        "pauses": [],
        "earlier_cycles": [],
        "remaining_seconds": None,
    }
    document.update(fields)
    return SlaMetric(**document)


def test_durations_read_as_people_say_them():
    assert duration(5400) == "1 h 30 min"
    assert duration(3600) == "1 h"
    assert duration(3661) == "1 h 1 min"  # two units: the seconds are dropped
    assert duration(90061) == "1 d 1 h"
    assert duration(272) == "4 min 32 s"
    assert duration(45.9) == "45 s"
    assert duration(0) == duration(-5) == "0 s"


def test_instants_read_in_the_calendars_zone_with_the_date_when_not_this_week():
    tuesday = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)
    assert when(tuesday, NOW, BERLIN) == "Tue 11:00 Europe/Berlin"
    summer = dt.datetime(2026, 7, 14, 9, 5, tzinfo=dt.UTC)
    assert when(summer, NOW, BERLIN) == "Tue 14 Jul 2026 11:05 Europe/Berlin"


def test_one_line_per_state():
    due = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)
    running = _metric(due_at=due)
    assert summary(running, 5400, NOW, BERLIN) == (
        "first response: due Tue 11:00 Europe/Berlin, 1 h 30 min of business time left"
    )
    overdue = _metric(due_at=NOW - dt.timedelta(minutes=20), breached_at=NOW - dt.timedelta(minutes=20))
    assert summary(overdue, -1200, NOW, BERLIN) == (
        "first response: overdue since Mon 09:40 Europe/Berlin, 20 min past due"
    )
    pause = SlaPause(start=NOW - dt.timedelta(hours=1), end=None, reason="pending")
    paused = _metric(metric="resolution", running_since=None, due_at=None, business=False, pauses=[pause])
    assert summary(paused, 7200, NOW, BERLIN) == (
        "resolution: paused (pending) since Mon 09:00 Europe/Berlin, 2 h of calendar time left"
    )
    cancelled = _metric(metric="next_response", running_since=None, due_at=None, cancelled_at=NOW)
    assert summary(cancelled, None, NOW, BERLIN) == (
        "next response: cancelled Mon 10:00 Europe/Berlin: resolved without an answer"
    )
    met = _metric(running_since=None, due_at=None, fulfilled_at=NOW)
    assert summary(met, None, NOW, BERLIN) == "first response: met Mon 10:00 Europe/Berlin"


def test_holiday_stretches_name_every_holiday_they_span():
    schedule = businesstime.Schedule(
        "Europe/Berlin",
        always_open=True,
        holidays=frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 26)}),
    )
    start = dt.datetime(2026, 12, 24, 12, 0, tzinfo=dt.UTC)
    now = dt.datetime(2026, 12, 27, 12, 0, tzinfo=dt.UTC)
    metric = _metric(started_at=start, running_since=start, due_at=now + dt.timedelta(hours=1))
    sla = TicketSla(
        policy_id=uuid.uuid4(),
        policy_version=1,
        calendar_id=uuid.uuid4(),
        calendar_version=1,
        metrics=[metric],
    )
    names = {dt.date(2026, 12, 25): "Christmas Day", dt.date(2026, 12, 26): "Boxing Day"}
    explained = explain(1, sla, BusinessTime(schedule), now, "Europe/Berlin", names.get)
    [counted, holiday, after] = explained.metrics[0].stretches
    assert (counted.reason, holiday.reason, after.reason) == ("counted", "holiday", "counted")
    assert holiday.holiday == "Christmas Day, Boxing Day"
    assert holiday.start_local == dt.datetime(2026, 12, 25, tzinfo=BERLIN)
    assert holiday.start == dt.datetime(2026, 12, 24, 23, 0, tzinfo=dt.UTC)


@given(
    target=st.integers(min_value=1, max_value=10**6),
    lead=st.integers(min_value=0, max_value=2 * 10**6),
    consumed=st.floats(min_value=0, max_value=2 * 10**6, allow_nan=False),
)
def test_the_warning_instant_is_never_before_the_cycle_started(target, lead, consumed):
    from api.sla import clocks

    metric = clocks.Metric(
        cycle=1,
        target_seconds=target,
        business=False,
        warning_seconds=lead,
        started_at=NOW,
        consumed_seconds=0.0,
        running_since=NOW,
        due_at=NOW + dt.timedelta(seconds=target),
    )
    later = NOW + dt.timedelta(seconds=consumed)
    relaxed = clocks.retarget(
        metric, clocks.Target(target + 1, False, lead), lambda _b: clocks.CALENDAR_TIME, later
    )
    for m in (metric, relaxed):
        if m.warn_at is not None:
            assert m.started_at <= m.warn_at < m.due_at  # type: ignore[operator]
        else:
            assert lead == 0 or lead >= m.target_seconds
