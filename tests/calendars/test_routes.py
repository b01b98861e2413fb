"""Business calendars through the HTTP API, the way an admin client uses them."""

from __future__ import annotations

import uuid

import asyncpg

from api.calendars.store import load_schedule
from api.db import asyncpg_dsn

URL = "/v1/business-calendars"
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
NEW_YORK = {
    "name": "New York office",
    "time_zone": "America/New_York",
    "weekly": [{"day": day, "start": "09:00", "end": "17:00"} for day in WEEKDAYS],
}


async def create(client, headers, body=None, status=201):
    r = await client.post(URL, json=body or NEW_YORK, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


def paths(response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["path"] for error in response.json()["errors"]]


async def test_create_get_list_with_etags(client, admin_headers):
    r = await client.post(URL, json=NEW_YORK, headers=admin_headers)
    assert r.status_code == 201, r.text
    calendar = r.json()
    assert r.headers["etag"] == '"1"'
    assert calendar["version"] == 1
    assert calendar["weekly"] == NEW_YORK["weekly"]
    assert calendar["always_open"] is False
    assert calendar["warnings"] == []
    r = await client.get(f"{URL}/{calendar['id']}", headers=admin_headers)
    assert r.json() == calendar
    assert r.headers["etag"] == '"1"'
    for i in range(3):
        await create(client, admin_headers, {"name": f"c{i}", "time_zone": "UTC", "always_open": True})
    page = (await client.get(URL, params={"limit": 2}, headers=admin_headers)).json()
    rest = (
        await client.get(URL, params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin_headers)
    ).json()
    assert [c["name"] for c in page["data"] + rest["data"]] == ["New York office", "c0", "c1", "c2"]
    assert rest["next_cursor"] is None
    assert (await client.get(f"{URL}/{uuid.uuid4()}", headers=admin_headers)).status_code == 404


async def test_invalid_calendars_are_422_with_field_paths(client, admin_headers):
    def body(**changes):
        return {**NEW_YORK, **changes}

    async def post(payload):
        return await client.post(URL, json=payload, headers=admin_headers)

    assert paths(await post(body(time_zone="Mars/Olympus_Mons"))) == ["$.time_zone"]
    overlapping = [
        {"day": "monday", "start": "09:00", "end": "17:00"},
        {"day": "monday", "start": "16:00", "end": "18:00"},
    ]
    assert paths(await post(body(weekly=overlapping))) == ["$.weekly[1]"]
    empty = [{"day": "monday", "start": "09:00", "end": "09:00"}]
    assert paths(await post(body(weekly=empty))) == ["$.weekly[0]"]
    # Sunday's overnight shift runs into Monday morning.
    wraps = [
        {"day": "monday", "start": "05:00", "end": "08:00"},
        {"day": "sunday", "start": "22:00", "end": "06:00"},
    ]
    assert paths(await post(body(weekly=wraps))) == ["$.weekly[0]"]
    assert paths(await post(body(weekly=[{"day": "monday", "start": "24:00", "end": "10:00"}]))) == [
        "$.weekly[0].start"
    ]
    assert paths(await post(body(weekly=[{"day": "funday", "start": "09:00", "end": "10:00"}]))) == [
        "$.weekly[0].day"
    ]
    assert paths(await post(body(weekly=[{"day": "monday", "start": "9:00", "end": "10:00"}]))) == [
        "$.weekly[0].start"
    ]
    assert paths(await post(body(holidays=[{"date": "2025-02-30"}]))) == ["$.holidays[0].date"]
    duplicate = [{"date": "2025-12-25", "yearly": True}, {"date": "2024-12-25", "yearly": True}]
    assert paths(await post(body(holidays=duplicate))) == ["$.holidays[1]"]
    assert paths(await post(body(always_open=True))) == ["$.weekly"]
    assert paths(await post(body(weekly=[]))) == ["$.weekly"]
    # Touching intervals, an overnight shift, 24:00 and a lunch break are all fine.
    fine = [
        {"day": "monday", "start": "08:00", "end": "12:00"},
        {"day": "monday", "start": "13:00", "end": "17:00"},
        {"day": "monday", "start": "17:00", "end": "24:00"},
        {"day": "sunday", "start": "22:00", "end": "06:00"},
        {"day": "tuesday", "start": "06:00", "end": "07:00"},
    ]
    assert (await post(body(weekly=fine))).status_code == 201


async def test_dst_warnings_point_at_the_boundary(client, admin_headers):
    calendar = await create(
        client,
        admin_headers,
        {
            "name": "Night",
            "time_zone": "America/New_York",
            "weekly": [{"day": "sunday", "start": "02:30", "end": "05:00"}],
        },
    )
    [gap] = [w for w in calendar["warnings"] if "does not exist" in w["message"]]
    assert gap["path"] == "$.weekly[0].start"
    assert "03:30" in gap["message"]


async def test_updates_bump_the_version_and_honour_if_match(client, admin_headers, database_url):
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}"
    r = await client.patch(url, json={"name": "NYC"}, headers={**admin_headers, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["version"], r.headers["etag"]) == ("NYC", 2, '"2"')
    assert r.json()["weekly"] == NEW_YORK["weekly"]
    r = await client.patch(url, json={"name": "stale"}, headers={**admin_headers, "If-Match": '"1"'})
    assert r.status_code == 412
    assert r.json()["type"] == "urn:helpdesk:problem:precondition-failed"
    r = await client.patch(url, json={"always_open": True}, headers=admin_headers)
    assert paths(r) == ["$.weekly"]
    r = await client.patch(url, json={"always_open": True, "weekly": []}, headers=admin_headers)
    assert (r.status_code, r.json()["version"], r.json()["always_open"]) == (200, 3, True)
    r = await client.patch(url, json={"time_zone": "Nowhere/Special"}, headers=admin_headers)
    assert paths(r) == ["$.time_zone"]
    replacement = {**NEW_YORK, "name": "Berlin", "time_zone": "Europe/Berlin"}
    r = await client.put(url, json=replacement, headers={**admin_headers, "If-Match": '"2"'})
    assert r.status_code == 412
    r = await client.put(url, json=replacement, headers={**admin_headers, "If-Match": '"3"'})
    assert (r.status_code, r.json()["version"], r.json()["time_zone"]) == (200, 4, "Europe/Berlin")
    assert (await client.patch(f"{URL}/{uuid.uuid4()}", json={}, headers=admin_headers)).status_code == 404
    # Every version's rules are kept, for explaining computations made with it.
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        first = await load_schedule(conn, uuid.UUID(calendar["id"]), version=1)
        third = await load_schedule(conn, uuid.UUID(calendar["id"]), version=3)
        current = await load_schedule(conn, uuid.UUID(calendar["id"]))
        assert await load_schedule(conn, uuid.uuid4()) is None
    finally:
        await conn.close()
    assert first is not None
    assert (first.schedule.time_zone, first.schedule.always_open) == ("America/New_York", False)
    assert third is not None
    assert third.schedule.always_open
    assert current is not None
    assert (current.version, current.schedule.time_zone) == (4, "Europe/Berlin")


async def test_delete(client, admin_headers):
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}"
    assert (await client.delete(url, headers={**admin_headers, "If-Match": '"7"'})).status_code == 412
    assert (await client.delete(url, headers={**admin_headers, "If-Match": '"1"'})).status_code == 204
    assert (await client.get(url, headers=admin_headers)).status_code == 404
    assert (await client.delete(url, headers=admin_headers)).status_code == 404


async def test_delete_refuses_a_calendar_in_use(client, admin_headers, engine):
    """The seam for SLA policies: any table referencing the calendar (without CASCADE) makes delete a 409."""
    from sqlalchemy import text

    calendar = await create(client, admin_headers)
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE test_calendar_users (calendar_id uuid REFERENCES business_calendars (id))")
        )
        await conn.execute(text("INSERT INTO test_calendar_users VALUES (:id)"), {"id": calendar["id"]})
    try:
        r = await client.delete(f"{URL}/{calendar['id']}", headers=admin_headers)
        assert r.status_code == 409, r.text
        assert "in use" in r.json()["detail"]
        assert (await client.get(f"{URL}/{calendar['id']}", headers=admin_headers)).status_code == 200
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE test_calendar_users"))


async def test_create_is_idempotent(client, admin_headers):
    headers = {**admin_headers, "Idempotency-Key": "calendar-1"}
    first = await client.post(URL, json=NEW_YORK, headers=headers)
    again = await client.post(URL, json=NEW_YORK, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == '"1"'
    assert len((await client.get(URL, headers=admin_headers)).json()["data"]) == 1


async def test_due_and_elapsed(client, admin_headers):
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}"
    # Friday 16:00 EST + 120 minutes: Friday 16-17, then Monday 09-10 EDT (clocks changed on Sunday).
    r = await client.post(
        f"{url}/due", json={"start": "2025-03-07T16:00:00-05:00", "minutes": 120}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "calendar_id": calendar["id"],
        "calendar_version": 1,
        "start": "2025-03-07T21:00:00Z",
        "minutes": 120,
        "due_at": "2025-03-10T14:00:00Z",
        "intervals": [
            {"start": "2025-03-07T21:00:00Z", "end": "2025-03-07T22:00:00Z"},
            {"start": "2025-03-10T13:00:00Z", "end": "2025-03-10T14:00:00Z"},
        ],
    }
    pause = {"from": "2025-03-07T21:30:00Z", "to": "2025-03-10T13:15:00Z"}
    r = await client.post(
        f"{url}/due",
        json={"start": "2025-03-07T21:00:00Z", "minutes": 120, "pauses": [pause]},
        headers=admin_headers,
    )
    assert r.json()["due_at"] == "2025-03-10T14:45:00Z"
    r = await client.post(
        f"{url}/elapsed",
        json={"from": "2025-03-07T21:00:00Z", "to": "2025-03-10T14:00:00Z", "pauses": [pause]},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["seconds"], result["minutes"]) == (75 * 60, 75)
    assert [s["reason"] for s in result["stretches"]] == [
        "counted",
        "paused",
        "outside_hours",
        "paused",
        "counted",
    ]
    assert result["stretches"][0]["start"] == "2025-03-07T21:00:00Z"
    assert result["stretches"][-1]["end"] == "2025-03-10T14:00:00Z"


async def test_what_if_refuses_bad_input(client, admin_headers):
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}"

    async def post(path, body):
        return await client.post(f"{url}/{path}", json=body, headers=admin_headers)

    assert paths(await post("due", {"start": "2025-03-07T16:00:00", "minutes": 1})) == ["$.start"]  # no zone
    assert paths(await post("due", {"start": "2025-03-07T16:00:00Z", "minutes": -1})) == ["$.minutes"]
    assert paths(await post("due", {"start": "0001-01-01T00:00:00Z", "minutes": 1})) == ["$.start"]
    backwards = {"from": "2025-03-08T00:00:00Z", "to": "2025-03-07T00:00:00Z"}
    assert paths(
        await post("due", {"start": "2025-03-07T16:00:00Z", "minutes": 1, "pauses": [backwards]})
    ) == ["$.pauses[0].to"]
    assert paths(await post("elapsed", {"from": "2025-03-08T00:00:00Z", "to": "2025-03-07T00:00:00Z"})) == [
        "$.to"
    ]
    assert paths(await post("elapsed", {"from": "1950-01-01T00:00:00Z", "to": "2890-01-01T00:00:00Z"})) == [
        "$.to"
    ]
    # Open one minute a week: a million minutes are far beyond the walk's reach.
    sparse = await create(
        client,
        admin_headers,
        {
            "name": "sparse",
            "time_zone": "UTC",
            "weekly": [{"day": "monday", "start": "00:00", "end": "00:01"}],
        },
    )
    r = await client.post(
        f"{URL}/{sparse['id']}/due",
        json={"start": "2025-01-01T00:00:00Z", "minutes": 1_000_000},
        headers=admin_headers,
    )
    assert paths(r) == ["$.minutes"]
    r = await client.post(
        f"{URL}/{uuid.uuid4()}/due",
        json={"start": "2025-01-01T00:00:00Z", "minutes": 1},
        headers=admin_headers,
    )
    assert r.status_code == 404


async def test_import_country_holidays(client, admin_headers):
    calendar = await create(
        client, admin_headers, {**NEW_YORK, "holidays": [{"date": "2025-01-06", "name": "Ours"}]}
    )
    url = f"{URL}/{calendar['id']}/holidays/import"
    body = {"country": "DE", "subdivision": "BY", "years": [2025]}
    r = await client.post(url, json=body, headers={**admin_headers, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    imported = r.json()
    assert imported["version"] == 2
    by_date = {h["date"]: h for h in imported["holidays"]}
    assert by_date["2025-01-06"]["name"] == "Ours"  # an existing date keeps its entry
    assert by_date["2025-06-19"]["name"] == "Corpus Christi"  # a Bavarian holiday, not a national one
    assert "2025-12-25" in by_date
    assert all(h["yearly"] is False for h in imported["holidays"])
    assert list(by_date) == sorted(by_date)
    r = await client.post(
        url, json={"country": "DE", "years": [2025]}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert r.status_code == 412
    assert paths(await client.post(url, json={"country": "XX", "years": [2025]}, headers=admin_headers)) == [
        "$.country"
    ]
    bad_subdivision = {"country": "DE", "subdivision": "ZZ", "years": [2025]}
    assert paths(await client.post(url, json=bad_subdivision, headers=admin_headers)) == ["$.subdivision"]
    assert paths(await client.post(url, json={"country": "DE", "years": []}, headers=admin_headers)) == [
        "$.years"
    ]
    # The imported days no longer count.
    r = await client.post(
        f"{URL}/{calendar['id']}/elapsed",
        json={"from": "2025-12-24T00:00:00Z", "to": "2025-12-27T00:00:00Z"},
        headers=admin_headers,
    )
    assert r.json()["minutes"] == 8 * 60  # only the 24th: the 25th and 26th are holidays


ICAL = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//helpdesk tests//EN\r
BEGIN:VEVENT\r
UID:closure@example.com\r
DTSTART;VALUE=DATE:20251229\r
DTEND;VALUE=DATE:20260102\r
SUMMARY:Year-end closure\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:founders@example.com\r
DTSTART;VALUE=DATE:20250704\r
DTEND;VALUE=DATE:20250705\r
RRULE:FREQ=YEARLY\r
SUMMARY:Founders day\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:offsite@example.com\r
DTSTART:20250910T200000Z\r
DTEND:20250911T150000Z\r
SUMMARY:Offsite\r
END:VEVENT\r
END:VCALENDAR\r
"""


async def test_upload_icalendar(client, admin_headers):
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}/holidays/ical"
    headers = {**admin_headers, "Content-Type": "text/calendar; charset=utf-8"}
    r = await client.post(url, content=ICAL, params={"from_year": 2025, "to_year": 2026}, headers=headers)
    assert r.status_code == 200, r.text
    days = {h["date"]: h["name"] for h in r.json()["holidays"]}
    # The multi-day event covers each of its days (DTEND is exclusive); the yearly one recurs; the timed
    # one covers both New York dates it overlaps (16:00 on the 10th to 11:00 on the 11th).
    assert days == {
        "2025-07-04": "Founders day",
        "2025-09-10": "Offsite",
        "2025-09-11": "Offsite",
        "2025-12-29": "Year-end closure",
        "2025-12-30": "Year-end closure",
        "2025-12-31": "Year-end closure",
        "2026-01-01": "Year-end closure",
        "2026-07-04": "Founders day",
    }
    assert r.json()["version"] == 2
    # Uploading again adds nothing new but is still a change.
    again = await client.post(url, content=ICAL, params={"from_year": 2025, "to_year": 2026}, headers=headers)
    assert {h["date"] for h in again.json()["holidays"]} == set(days)


async def test_upload_icalendar_refuses_bad_files(client, admin_headers):
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}/holidays/ical"
    headers = {**admin_headers, "Content-Type": "text/calendar"}
    r = await client.post(url, content=ICAL, headers={**admin_headers, "Content-Type": "application/json"})
    assert r.status_code == 415
    assert r.json()["type"] == "urn:helpdesk:problem:unsupported-media-type"
    assert paths(await client.post(url, content=b"hello", headers=headers)) == ["body"]
    assert paths(await client.post(url, content=b"\xff\xfe\x00", headers=headers)) == ["body"]
    every_minute = ICAL.replace(b"RRULE:FREQ=YEARLY", b"RRULE:FREQ=MINUTELY")
    assert paths(await client.post(url, content=every_minute, headers=headers)) == ["body"]
    # The file is judged before the preconditions, like a JSON body.
    assert paths(await client.post(url, content=b"{}", headers={**headers, "If-Match": ""})) == ["body"]
    r = await client.post(url, content=ICAL, params={"from_year": 2025, "to_year": 2024}, headers=headers)
    assert paths(r) == ["to_year"]
    r = await client.post(url, content=ICAL, params={"from_year": 2000, "to_year": 2020}, headers=headers)
    assert paths(r) == ["to_year"]
    r = await client.post(f"{URL}/{uuid.uuid4()}/holidays/ical", content=ICAL, headers=headers)
    assert r.status_code == 404


async def test_agents_are_refused(client, agent_headers, admin_headers):
    calendar = await create(client, admin_headers)
    for method, path in (("GET", URL), ("GET", f"{URL}/{calendar['id']}"), ("POST", URL)):
        r = await client.request(
            method, path, json=NEW_YORK if method == "POST" else None, headers=agent_headers
        )
        assert r.status_code == 403


async def test_instants_at_the_ends_of_time_are_422_not_500(client, admin_headers):
    # With an offset, these lie before datetime.min or after datetime.max once taken to UTC.
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}"
    for instant in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        pause = {"from": instant, "to": instant}
        for path, body, at in (
            ("due", {"start": instant, "minutes": 1}, "$.start"),
            ("due", {"start": "2025-01-01T00:00:00Z", "minutes": 1, "pauses": [pause]}, "$.pauses"),
            ("elapsed", {"from": instant, "to": instant}, "$.from"),
            ("elapsed", {"from": "2025-01-01T00:00:00Z", "to": instant}, "$.to"),
        ):
            r = await client.post(f"{url}/{path}", json=body, headers=admin_headers)
            assert paths(r) == [at], (instant, path, r.text)


async def test_the_hosts_localtime_is_no_time_zone(client, admin_headers):
    for name in ("localtime", "posixrules"):
        assert paths(await client.post(URL, json={**NEW_YORK, "time_zone": name}, headers=admin_headers)) == [
            "$.time_zone"
        ]


async def test_holiday_import_names_years_without_data_and_ignores_case(client, admin_headers):
    calendar = await create(client, admin_headers)
    url = f"{URL}/{calendar['id']}/holidays/import"
    # The package's data for Germany starts in 1991: before, it would answer no holidays at all.
    r = await client.post(url, json={"country": "DE", "years": [2025, 1990]}, headers=admin_headers)
    assert paths(r) == ["$.years[1]"]
    assert "1991" in r.json()["detail"]
    r = await client.post(
        url, json={"country": "de", "subdivision": "by", "years": [2025]}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    assert "2025-06-19" in {h["date"] for h in r.json()["holidays"]}  # Corpus Christi: Bavaria's
    r = await client.post(
        url, json={"country": "DE", "subdivision": "zz", "years": [2025]}, headers=admin_headers
    )
    assert paths(r) == ["$.subdivision"]
    assert "BY" in r.json()["detail"]


async def test_what_if_answers_are_bounded(client, admin_headers):
    # 196 one-minute openings a week: ten years hold about 200,000 stretches (tens of megabytes).
    weekly = [
        {"day": day, "start": f"{hour:02d}:{minute:02d}", "end": f"{hour:02d}:{minute + 1:02d}"}
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        for hour in range(7)
        for minute in (0, 15, 30, 45)
    ]
    calendar = await create(
        client, admin_headers, {"name": "Many short openings", "time_zone": "UTC", "weekly": weekly}
    )
    url = f"{URL}/{calendar['id']}"
    r = await client.post(
        f"{url}/elapsed",
        json={"from": "2025-01-01T00:00:00Z", "to": "2035-01-01T00:00:00Z"},
        headers=admin_headers,
    )
    assert paths(r) == ["$.to"]
    assert "5000" in r.json()["detail"]
    r = await client.post(
        f"{url}/due", json={"start": "2025-01-01T00:00:00Z", "minutes": 100_000}, headers=admin_headers
    )
    assert paths(r) == ["$.minutes"]
    # Within the bound, answers are whole.
    r = await client.post(
        f"{url}/elapsed",
        json={"from": "2025-01-01T00:00:00Z", "to": "2025-01-08T00:00:00Z"},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["minutes"] == len(weekly)
    assert r.json()["stretches"][-1]["end"] == "2025-01-08T00:00:00Z"
    r = await client.post(
        f"{url}/due", json={"start": "2025-01-01T00:00:00Z", "minutes": 1000}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["intervals"]) == 1000
