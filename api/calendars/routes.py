"""HTTP routes for business calendars (admin only): CRUD, holiday imports, and what-if arithmetic."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.openapi.spec import Example, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Body, FromPath, QueryParameter, RawBody

from api.auth.guards import ADMIN_ONLY, ANY_ROLE
from api.auth.schemas import Principal
from api.calendars import service
from api.calendars.ical import MAX_YEARS
from api.calendars.schemas import (
    CalendarCreate,
    CalendarRead,
    CalendarUpdate,
    DueRequest,
    DueResult,
    ElapsedRequest,
    ElapsedResult,
    HolidayImport,
)
from api.consistency import Reads
from api.db import Transaction
from api.errors import DomainError, FieldError, Unprocessable
from api.etags import etag_header, expected_version, if_match
from api.idempotency import IdempotencyKeyHeader, idempotent, run_once
from api.openapi import created_at_location, problems, response_examples
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

Req = Request[Principal, Any, Any]

IfMatch = Annotated[str | None, if_match("calendar")]
ETAG = etag_header("calendar")
ICAL_MEDIA_TYPE = "text/calendar"
# Each expansion is a child process using up to a core: a few at once per process, the rest wait.
MAX_CONCURRENT_EXPANSIONS = 2


def with_etag(calendar: CalendarRead, status_code: int = 200) -> Response[CalendarRead]:
    headers = {"ETag": f'"{calendar.version}"'}
    if status_code == 201:
        headers["Location"] = f"/v1/business-calendars/{calendar.id}"
    return Response(calendar, status_code=status_code, headers=headers)


_BERLIN: dict[str, Any] = {
    "name": "Berlin office",
    "time_zone": "Europe/Berlin",
    "weekly": [
        {"day": day, "start": "09:00", "end": "17:00"}
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
    ],
    "holidays": [{"date": "2025-12-25", "yearly": True, "name": "Christmas Day"}],
}
_CREATE = [
    Example(summary="Office hours with a yearly holiday", value=_BERLIN),
    Example(
        summary="Night shift and a lunch break",
        value={
            "name": "Support desk",
            "time_zone": "America/New_York",
            "weekly": [
                {"day": "monday", "start": "08:00", "end": "12:00"},
                {"day": "monday", "start": "13:00", "end": "17:00"},
                {"day": "friday", "start": "22:00", "end": "06:00"},
            ],
        },
    ),
    Example(summary="Around the clock", value={"name": "24/7", "time_zone": "UTC", "always_open": True}),
]
_UPDATE = [
    Example(summary="Rename", value={"name": "Berlin HQ"}),
    Example(summary="Switch to round the clock", value={"always_open": True, "weekly": []}),
]
_READ = {**_BERLIN, "id": "3f1c8a52-7d0e-4b8e-9a51-2f6c0d9e4b11", "always_open": False, "version": 1}
_READ_EXAMPLE = {
    "Office hours": Example(
        value={
            **_READ,
            "warnings": [],
            "created_at": "2025-06-02T09:00:00Z",
            "updated_at": "2025-06-02T09:00:00Z",
        }
    )
}
_IMPORT = [
    Example(summary="Bavaria, two years", value={"country": "DE", "subdivision": "BY", "years": [2025, 2026]})
]
_DUE = [
    Example(summary="Eight business hours", value={"start": "2025-12-24T15:00:00Z", "minutes": 480}),
    Example(
        summary="With a pause",
        value={
            "start": "2025-06-06T13:00:00Z",
            "minutes": 120,
            "pauses": [{"from": "2025-06-06T14:00:00Z", "to": "2025-06-09T08:00:00Z"}],
        },
    ),
]
_ELAPSED = [
    Example(summary="Over a weekend", value={"from": "2025-06-06T13:00:00Z", "to": "2025-06-09T10:00:00Z"})
]
_ICAL = [
    Example(
        summary="A two-day closure",
        value="BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//example//holidays//EN\r\nBEGIN:VEVENT\r\n"
        "UID:closure-2025@example.com\r\nDTSTART;VALUE=DATE:20251229\r\nDTEND;VALUE=DATE:20251231\r\n"
        "SUMMARY:Year-end closure\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
]


@dataclass
class _IcalUploadOperation(Operation):
    """The upload reads the raw body (Litestar decodes ``data`` as JSON), so its spec says what it takes."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="An iCalendar file (RFC 5545).",
            content={
                ICAL_MEDIA_TYPE: OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING),
                    examples={"closure": _ICAL[0]},
                )
            },
        )


FromYear = Annotated[
    int | None,
    QueryParameter(ge=1900, le=2200, description="First year to take events from (default: this year)."),
]
ToYear = Annotated[
    int | None,
    QueryParameter(
        ge=1900,
        le=2200,
        description=f"Last year to take events from (default: `from_year` + 2; at most {MAX_YEARS} years).",
    ),
]


class BusinessCalendarController(Controller):
    path = "/v1/business-calendars"
    tags = ["Business calendars"]
    opt = ADMIN_ONLY

    @post(
        operation_id="createBusinessCalendar",
        response_headers=ETAG,
        opt={**response_examples(201, _READ_EXAMPLE), **created_at_location()},
    )
    async def create_calendar(
        self,
        request: Req,
        tx: Transaction,
        data: Annotated[CalendarCreate, Body(examples=_CREATE)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[CalendarRead]:
        """Create a business calendar.

        Opening intervals are local wall times in `time_zone`, several a day if needed; `start` later
        than `end` is an overnight shift into the next day, and `"24:00"` ends at midnight. A holiday
        removes every interval that starts on its date. `warnings` lists boundaries that fall inside a
        DST transition (they resolve like zoneinfo with fold=0). See docs/calendars.md for the rules.
        """

        async def work() -> Response[Any]:
            return with_etag(await service.create_calendar(tx, data), 201)

        return await idempotent(tx, request, idempotency_key, data, work)

    @get(operation_id="listBusinessCalendars")
    async def list_calendars(
        self, reads: Reads, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> Page[CalendarRead]:
        """List business calendars, oldest first."""
        return await service.list_calendars(reads, limit=limit, cursor=cursor)

    @get(
        "/{calendar_id:uuid}",
        operation_id="getBusinessCalendar",
        response_headers=ETAG,
        opt={**problems(404), **response_examples(200, _READ_EXAMPLE)},
    )
    async def get_calendar(self, tx: Transaction, calendar_id: FromPath[uuid.UUID]) -> Response[CalendarRead]:
        """Get a business calendar; its `ETag` is the version to send back as `If-Match`."""
        return with_etag(await service.get_calendar(tx, calendar_id))

    @patch(
        "/{calendar_id:uuid}",
        operation_id="updateBusinessCalendar",
        response_headers=ETAG,
        opt=problems(404, 412),
    )
    async def update_calendar(
        self,
        tx: Transaction,
        calendar_id: FromPath[uuid.UUID],
        data: Annotated[CalendarUpdate, Body(examples=_UPDATE)],
        if_match: IfMatch = None,
    ) -> Response[CalendarRead]:
        """Change a business calendar; omitted fields keep their value.

        `weekly` and `holidays` are replaced whole. Every change is a new `version`.
        """
        return with_etag(await service.update_calendar(tx, calendar_id, data, expected_version(if_match)))

    @put(
        "/{calendar_id:uuid}",
        operation_id="replaceBusinessCalendar",
        response_headers=ETAG,
        opt=problems(404, 412),
    )
    async def replace_calendar(
        self,
        tx: Transaction,
        calendar_id: FromPath[uuid.UUID],
        data: Annotated[CalendarCreate, Body(examples=_CREATE)],
        if_match: IfMatch = None,
    ) -> Response[CalendarRead]:
        """Replace a business calendar with a whole new description (a new `version`)."""
        return with_etag(await service.replace_calendar(tx, calendar_id, data, expected_version(if_match)))

    @delete("/{calendar_id:uuid}", operation_id="deleteBusinessCalendar", opt=problems(404, 409, 412))
    async def delete_calendar(
        self, tx: Transaction, calendar_id: FromPath[uuid.UUID], if_match: IfMatch = None
    ) -> None:
        """Delete a business calendar.

        A calendar in use (by SLA policies) cannot be deleted: 409.
        """
        await service.delete_calendar(tx, calendar_id, expected_version(if_match))

    @post(
        "/{calendar_id:uuid}/holidays/import",
        status_code=200,
        operation_id="importBusinessCalendarHolidays",
        response_headers=ETAG,
        opt=problems(404, 412),
    )
    async def import_holidays(
        self,
        request: Req,
        tx: Transaction,
        calendar_id: FromPath[uuid.UUID],
        data: Annotated[HolidayImport, Body(examples=_IMPORT)],
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[CalendarRead]:
        """Add a country's public holidays for some years.

        Uses the `holidays` package's data for the country (ISO 3166-1 code) and subdivision (e.g.
        `BY` for Bavaria). Dates the calendar already has keep their entry.
        """
        version = expected_version(if_match)

        async def work() -> Response[Any]:
            return with_etag(await service.import_holidays(tx, calendar_id, data, version))

        return await idempotent(tx, request, idempotency_key, data, work)

    @post(
        "/{calendar_id:uuid}/holidays/ical",
        status_code=200,
        operation_id="uploadBusinessCalendarHolidays",
        response_headers=ETAG,
        opt=problems(404, 412, 413, 415),
        operation_class=_IcalUploadOperation,
    )
    async def upload_ical(
        self,
        request: Req,
        tx: Transaction,
        calendar_id: FromPath[uuid.UUID],
        body: RawBody,
        from_year: FromYear = None,
        to_year: ToYear = None,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[CalendarRead]:
        """Add the days of an iCalendar file's events as holidays.

        Send the file as a `text/calendar` body. Recurring events are expanded over `from_year` to
        `to_year`; an event covers every local date it overlaps (a multi-day event gives one holiday per
        day). Dates the calendar already has keep their entry.

        A file too costly to expand is refused with 422 on `body`: more than 2,000 events, rules (of
        events or time zones) repeating more often than daily, more than 20,000 occurrences in the years
        asked, or an expansion that outlasts the server's time limit (docs/calendars.md).
        """
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != ICAL_MEDIA_TYPE:
            raise _UnsupportedMediaType(
                f"Send the file as {ICAL_MEDIA_TYPE}, not {content_type or 'nothing'}."
            )
        first = from_year if from_year is not None else dt.datetime.now(dt.UTC).year
        last = to_year if to_year is not None else first + 2
        if last < first:
            raise Unprocessable(
                "to_year is before from_year.",
                errors=[FieldError("query", "to_year", "must not be before from_year")],
            )
        fingerprint = {"ical": body.decode("utf-8", "replace"), "from_year": first, "to_year": last}
        limits = _ical_limits(request)

        async def work() -> Response[Any]:
            found = await service.ical_holidays(tx, calendar_id, body, first, last, limits)
            # Like a JSON body, the file is judged before the preconditions (If-Match).
            version = expected_version(if_match)
            return with_etag(await service.add_ical_holidays(tx, calendar_id, found, version))

        return await idempotent(tx, request, idempotency_key, fingerprint, work)

    @post(
        "/{calendar_id:uuid}/due",
        status_code=200,
        operation_id="computeBusinessCalendarDue",
        opt={**ANY_ROLE, **problems(404)},
    )
    async def compute_due(
        self,
        request: Req,
        tx: Transaction,
        calendar_id: FromPath[uuid.UUID],
        data: Annotated[DueRequest, Body(examples=_DUE)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[DueResult]:
        """When is an amount of business time used up?

        From `start`, count `minutes` of open time (outside `pauses`): `due_at` is the first instant at
        which they have all counted, and `intervals` the counted intervals. A start outside hours counts
        from the next opening; a budget used up exactly at closing is due at closing. An amount that
        takes more than 5,000 intervals of the calendar is refused (422 on `$.minutes`). Agents may ask
        too (it computes and changes nothing).
        """
        return await run_once(
            tx, request, idempotency_key, data, lambda: service.compute_due(tx, calendar_id, data)
        )

    @post(
        "/{calendar_id:uuid}/elapsed",
        status_code=200,
        operation_id="computeBusinessCalendarElapsed",
        opt={**ANY_ROLE, **problems(404)},
    )
    async def compute_elapsed(
        self,
        request: Req,
        tx: Transaction,
        calendar_id: FromPath[uuid.UUID],
        data: Annotated[ElapsedRequest, Body(examples=_ELAPSED)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ElapsedResult]:
        """How much business time lies between two instants?

        Counts open time between `from` and `to` outside `pauses`, and explains every stretch that did
        not count: `outside_hours`, `holiday` or `paused`. A span that holds more than 5,000 stretches
        is refused (422 on `$.to`; the message names how far a shorter span may reach). Agents may ask
        too (it computes and changes nothing).
        """
        return await run_once(
            tx, request, idempotency_key, data, lambda: service.compute_elapsed(tx, calendar_id, data)
        )


def _ical_limits(request: Req) -> service.IcalLimits:
    state = request.app.state
    if "ical_slots" not in state:  # one per process, made on its event loop
        state.ical_slots = asyncio.Semaphore(MAX_CONCURRENT_EXPANSIONS)
    settings = state.settings
    return service.IcalLimits(
        seconds=settings.ical_expansion_seconds,
        memory_bytes=settings.ical_expansion_memory_mb * 1024 * 1024,
        slots=state.ical_slots,
    )


class _UnsupportedMediaType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"
