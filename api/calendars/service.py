"""Business calendars: validation, versioned writes (each announced with NOTIFY), and what-if arithmetic.

Every change locks the calendar row, checks the client's expected version (412 when stale), writes the
new version and a copy of its rules in ``business_calendar_versions``, and sends
``NOTIFY helpdesk_calendar_changed, '<id>'`` in the same transaction, so per-process caches drop the old
schedule when (and only when) the change commits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid
from typing import Any

import msgspec
from sqlalchemy import RowMapping, delete, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.calendars import businesstime, holiday_sources, ical, isolated, zones
from api.calendars.models import BusinessCalendar, BusinessCalendarVersion
from api.calendars.schemas import (
    MAX_HOLIDAYS,
    MAX_LISTED,
    CalendarCreate,
    CalendarRead,
    CalendarUpdate,
    CalendarWarning,
    DueRequest,
    DueResult,
    ElapsedRequest,
    ElapsedResult,
    Holiday,
    HolidayImport,
    IntervalRead,
    OpeningInterval,
    StretchRead,
)
from api.calendars.store import (
    CHANGED_CHANNEL,
    holiday_identity,
    holiday_order,
    to_schedule,
    weekly_intervals,
)
from api.db import utcnow
from api.errors import Conflict, FieldError, NotFound, PreconditionFailed, Unprocessable
from api.pagination import Page, decode_cursor, encode_cursor
from api.sla import reevaluation

_COLUMNS = (
    BusinessCalendar.id,
    BusinessCalendar.name,
    BusinessCalendar.time_zone,
    BusinessCalendar.always_open,
    BusinessCalendar.weekly,
    BusinessCalendar.holidays,
    BusinessCalendar.version,
    BusinessCalendar.created_at,
    BusinessCalendar.updated_at,
)


class _Rules(msgspec.Struct, kw_only=True):
    """What a calendar says about time: everything but its name."""

    time_zone: str
    always_open: bool
    weekly: list[OpeningInterval]
    holidays: list[Holiday]


# -- Validation ----------------------------------------------------------------------------------------


def _check(rules: _Rules) -> businesstime.Schedule:
    """The schedule of valid rules; otherwise a 422 naming every field at fault."""
    errors: list[FieldError] = []
    if not zones.is_time_zone(rules.time_zone):
        errors.append(FieldError("body", "$.time_zone", "unknown IANA time zone"))
    if rules.always_open and rules.weekly:
        errors.append(FieldError("body", "$.weekly", "must be empty when always_open is true"))
    if not rules.always_open and not rules.weekly:
        errors.append(
            FieldError("body", "$.weekly", "give at least one opening interval, or always_open: true")
        )
    intervals = weekly_intervals(rules.weekly)  # the schema's patterns make every clock time parseable
    errors += [
        FieldError("body", f"$.weekly[{index}]" if index is not None else "$.weekly", message)
        for index, message in businesstime.weekly_problems(intervals)
    ]
    seen: dict[tuple[int, int, int], int] = {}
    for index, holiday in enumerate(rules.holidays):
        first = seen.setdefault(holiday_identity(holiday), index)
        if first != index:
            errors.append(FieldError("body", f"$.holidays[{index}]", f"duplicates $.holidays[{first}]"))
    if errors:
        raise Unprocessable("The calendar has invalid fields; see errors.", errors=errors)
    try:
        return to_schedule(rules.time_zone, rules.always_open, rules.weekly, rules.holidays)
    except businesstime.ScheduleError as exc:  # pragma: no cover - everything was checked above
        raise Unprocessable(str(exc), errors=[FieldError("body", "$", str(exc))]) from None


@functools.lru_cache(maxsize=512)
def _dst_warnings(schedule: businesstime.Schedule, today: dt.date) -> tuple[CalendarWarning, ...]:
    warnings = []
    for warning in businesstime.dst_warnings(schedule, today):
        resolved = warning.resolves_to.astimezone(schedule.zone)
        if warning.kind == "gap":
            what = f"does not exist on {warning.day} (clocks skip it); it resolves to {resolved:%H:%M}"
        else:
            what = f"occurs twice on {warning.day}; the first occurrence ({resolved:%H:%M %Z}) counts"
        warnings.append(
            CalendarWarning(
                path=f"$.weekly[{warning.index}].{warning.boundary}",
                message=f"{warning.local_time} in {schedule.time_zone} {what}",
            )
        )
    return tuple(warnings)


def _rules_of(row: RowMapping) -> _Rules:
    return _Rules(
        time_zone=row["time_zone"],
        always_open=row["always_open"],
        weekly=msgspec.convert(row["weekly"], list[OpeningInterval]),
        holidays=msgspec.convert(row["holidays"], list[Holiday]),
    )


def _to_read(row: RowMapping) -> CalendarRead:
    rules = _rules_of(row)
    schedule = to_schedule(rules.time_zone, rules.always_open, rules.weekly, rules.holidays)
    return CalendarRead(
        id=row["id"],
        name=row["name"],
        time_zone=rules.time_zone,
        always_open=rules.always_open,
        weekly=rules.weekly,
        holidays=rules.holidays,
        version=row["version"],
        warnings=list(_dst_warnings(schedule, utcnow().date())),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _stored(rules: _Rules) -> dict[str, Any]:
    return {
        "time_zone": rules.time_zone,
        "always_open": rules.always_open,
        "weekly": msgspec.to_builtins(rules.weekly),
        "holidays": msgspec.to_builtins(sorted(rules.holidays, key=holiday_order)),
    }


async def _notify(conn: AsyncConnection, calendar_id: uuid.UUID) -> None:
    await conn.execute(
        text("SELECT pg_notify(:channel, :id)"), {"channel": CHANGED_CHANNEL, "id": str(calendar_id)}
    )


# -- Writes --------------------------------------------------------------------------------------------


async def _announce(
    conn: AsyncConnection, calendar_id: uuid.UUID, values: dict[str, Any], version: int
) -> None:
    """Keep a copy of this version's rules and tell every process, at commit, that the calendar changed."""
    rules = {key: values[key] for key in ("time_zone", "always_open", "weekly", "holidays")}
    await conn.execute(
        insert(BusinessCalendarVersion).values(calendar_id=calendar_id, version=version, **rules)
    )
    await _notify(conn, calendar_id)
    # Open tickets whose SLA counts business time with this calendar get their due instants recomputed.
    await reevaluation.request_for_calendar(conn, calendar_id, version)


async def create_calendar(conn: AsyncConnection, data: CalendarCreate) -> CalendarRead:
    rules = _Rules(
        time_zone=data.time_zone, always_open=data.always_open, weekly=data.weekly, holidays=data.holidays
    )
    _check(rules)
    values = {"name": data.name, **_stored(rules)}
    row = (
        (await conn.execute(insert(BusinessCalendar).values(**values).returning(*_COLUMNS))).mappings().one()
    )
    await _announce(conn, row["id"], values, row["version"])
    return _to_read(row)


async def get_calendar(conn: AsyncConnection, calendar_id: uuid.UUID) -> CalendarRead:
    return _to_read(await _row(conn, calendar_id))


async def _row(conn: AsyncConnection, calendar_id: uuid.UUID, *, lock: bool = False) -> RowMapping:
    query = select(*_COLUMNS).where(BusinessCalendar.id == calendar_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).mappings().one_or_none()
    if row is None:
        raise NotFound(f"Business calendar {calendar_id} does not exist.")
    return row


async def list_calendars(conn: AsyncConnection, *, limit: int, cursor: str | None) -> Page[CalendarRead]:
    query = select(*_COLUMNS).order_by(BusinessCalendar.created_at, BusinessCalendar.id).limit(limit + 1)
    if cursor is not None:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        query = query.where(tuple_(BusinessCalendar.created_at, BusinessCalendar.id) > tuple_(*after))
    rows = (await conn.execute(query)).mappings().all()
    items = [_to_read(row) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].created_at, items[-1].id)) if len(rows) > limit else None
    return Page(data=items, next_cursor=next_cursor)


async def _locked(conn: AsyncConnection, calendar_id: uuid.UUID, expected_version: int | None) -> RowMapping:
    """The calendar's row, locked for this transaction, at the version the client expects."""
    row = await _row(conn, calendar_id, lock=True)
    if expected_version is not None and row["version"] != expected_version:
        raise PreconditionFailed(
            f"Business calendar {calendar_id} is at version {row['version']}, not {expected_version}; "
            "fetch it again and reapply your change.",
            headers={"ETag": f'"{row["version"]}"'},
        )
    return row


async def _write(conn: AsyncConnection, row: RowMapping, name: str, rules: _Rules) -> CalendarRead:
    _check(rules)
    values = {"name": name, **_stored(rules)}
    updated = (
        (
            await conn.execute(
                update(BusinessCalendar)
                .where(BusinessCalendar.id == row["id"])
                .values(**values, version=BusinessCalendar.version + 1, updated_at=utcnow())
                .returning(*_COLUMNS)
            )
        )
        .mappings()
        .one()
    )
    await _announce(conn, updated["id"], values, updated["version"])
    return _to_read(updated)


async def update_calendar(
    conn: AsyncConnection, calendar_id: uuid.UUID, data: CalendarUpdate, expected_version: int | None
) -> CalendarRead:
    """Change the fields sent (``weekly`` and ``holidays`` are replaced whole); a new version."""
    row = await _locked(conn, calendar_id, expected_version)
    rules = _rules_of(row)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    name = changes.pop("name", row["name"])
    rules = msgspec.structs.replace(rules, **changes)
    return await _write(conn, row, name, rules)


async def replace_calendar(
    conn: AsyncConnection, calendar_id: uuid.UUID, data: CalendarCreate, expected_version: int | None
) -> CalendarRead:
    row = await _locked(conn, calendar_id, expected_version)
    rules = _Rules(
        time_zone=data.time_zone, always_open=data.always_open, weekly=data.weekly, holidays=data.holidays
    )
    return await _write(conn, row, data.name, rules)


async def delete_calendar(
    conn: AsyncConnection, calendar_id: uuid.UUID, expected_version: int | None
) -> None:
    """Delete a calendar and its version history.

    The seam for calendars in use: tables that depend on a calendar (SLA policies) reference
    ``business_calendars.id`` with the default ``ON DELETE NO ACTION``, so deleting one in use fails with a
    foreign-key violation, answered here as 409 while the transaction is still usable (a savepoint).
    """
    await _locked(conn, calendar_id, expected_version)
    try:
        async with conn.begin_nested():
            await conn.execute(delete(BusinessCalendar).where(BusinessCalendar.id == calendar_id))
    except IntegrityError:
        raise Conflict(
            f"Business calendar {calendar_id} is in use (by SLA policies); change those first."
        ) from None
    await _notify(conn, calendar_id)


async def _add_holidays(
    conn: AsyncConnection,
    calendar_id: uuid.UUID,
    new: list[Holiday],
    expected_version: int | None,
    field: str,
) -> CalendarRead:
    """Merge holidays into a calendar: days it already has keep their entry (and name)."""
    row = await _locked(conn, calendar_id, expected_version)
    rules = _rules_of(row)
    known = {holiday_identity(h) for h in rules.holidays}
    merged = rules.holidays + [h for h in new if holiday_identity(h) not in known]
    if len(merged) > MAX_HOLIDAYS:
        raise Unprocessable(
            f"A calendar holds at most {MAX_HOLIDAYS} holidays; this would make {len(merged)}.",
            errors=[FieldError("body", field, f"more than {MAX_HOLIDAYS} holidays in total")],
        )
    return await _write(conn, row, row["name"], msgspec.structs.replace(rules, holidays=merged))


async def import_holidays(
    conn: AsyncConnection, calendar_id: uuid.UUID, data: HolidayImport, expected_version: int | None
) -> CalendarRead:
    try:
        found = holiday_sources.country_holidays(data.country, data.subdivision, data.years)
    except holiday_sources.HolidaySourceError as exc:
        raise Unprocessable(str(exc), errors=[FieldError("body", exc.field, str(exc))]) from None
    return await _add_holidays(conn, calendar_id, found, expected_version, "$.years")


class IcalLimits(msgspec.Struct, frozen=True):
    """What the expansion of one uploaded file may cost (settings ``HELPDESK_ICAL_EXPANSION_*``)."""

    seconds: float
    memory_bytes: int
    slots: asyncio.Semaphore
    """Expansions at once per process; more uploads wait their turn."""


async def ical_holidays(
    conn: AsyncConnection,
    calendar_id: uuid.UUID,
    body: bytes,
    from_year: int,
    to_year: int,
    limits: IcalLimits,
) -> list[Holiday]:
    """The days an uploaded file's events cover, in the calendar's zone (404, or 422 on the file)."""
    row = await _row(conn, calendar_id)
    try:
        async with limits.slots:
            # Off the event loop, in a child process that is stopped at the deadline (api.calendars.isolated).
            found = await asyncio.to_thread(
                isolated.run,
                ical.holidays_in_file,
                body,
                from_year,
                to_year,
                row["time_zone"],
                seconds=limits.seconds,
                memory_bytes=limits.memory_bytes,
            )
    except holiday_sources.HolidaySourceError as exc:
        location = "query" if exc.field.endswith("_year") else "body"
        raise Unprocessable(str(exc), errors=[FieldError(location, exc.field, str(exc))]) from None
    except isolated.TooCostly as exc:
        message = f"the file is too costly to expand: {exc}; send fewer years or simpler rules"
        raise Unprocessable(message, errors=[FieldError("body", "body", message)]) from None
    return found


async def add_ical_holidays(
    conn: AsyncConnection, calendar_id: uuid.UUID, found: list[Holiday], expected_version: int | None
) -> CalendarRead:
    return await _add_holidays(conn, calendar_id, found, expected_version, "$")


# -- What-if -------------------------------------------------------------------------------------------


def _pauses(pauses: list[Any]) -> list[tuple[dt.datetime, dt.datetime]]:
    errors = [
        FieldError("body", f"$.pauses[{index}].to", "must not be before from")
        for index, pause in enumerate(pauses)
        if pause.to < pause.from_
    ]
    if errors:
        raise Unprocessable("A pause ends before it starts.", errors=errors)
    return [(pause.from_, pause.to) for pause in pauses]


def _arithmetic_error(exc: businesstime.BusinessTimeError, path: str) -> Unprocessable:
    return Unprocessable(str(exc), errors=[FieldError("body", path, str(exc))])


async def _schedule(conn: AsyncConnection, calendar_id: uuid.UUID) -> tuple[businesstime.Schedule, int]:
    row = await _row(conn, calendar_id)
    rules = _rules_of(row)
    return to_schedule(rules.time_zone, rules.always_open, rules.weekly, rules.holidays), row["version"]


async def compute_due(conn: AsyncConnection, calendar_id: uuid.UUID, data: DueRequest) -> DueResult:
    schedule, version = await _schedule(conn, calendar_id)
    pauses = _pauses(data.pauses)
    amount = dt.timedelta(minutes=data.minutes)
    try:
        result = businesstime.due(schedule, data.start, amount, pauses, max_intervals=MAX_LISTED)
    except (businesstime.NoOpenTime, businesstime.TooLong) as exc:
        raise _arithmetic_error(exc, "$.minutes") from None
    except businesstime.BusinessTimeError as exc:
        raise _arithmetic_error(exc, "$.pauses" if "pause" in str(exc) else "$.start") from None
    return DueResult(
        calendar_id=calendar_id,
        calendar_version=version,
        start=data.start.astimezone(dt.UTC),
        minutes=data.minutes,
        due_at=result.due_at,
        intervals=[IntervalRead(start=i.start, end=i.end) for i in result.intervals],
    )


async def compute_elapsed(
    conn: AsyncConnection, calendar_id: uuid.UUID, data: ElapsedRequest
) -> ElapsedResult:
    schedule, version = await _schedule(conn, calendar_id)
    if data.to < data.from_:
        raise Unprocessable(
            "to is before from.", errors=[FieldError("body", "$.to", "must not be before from")]
        )
    pauses = _pauses(data.pauses)
    try:
        stretches = businesstime.explain(schedule, data.from_, data.to, pauses, max_stretches=MAX_LISTED)
    except businesstime.BusinessTimeError as exc:
        message = str(exc)
        raise _arithmetic_error(
            exc, "$.pauses" if "pause" in message else "$.from" if message.startswith("start") else "$.to"
        ) from None
    if stretches and stretches[-1].end < data.to:
        reached = stretches[-1].end.isoformat().replace("+00:00", "Z")
        message = f"more than {MAX_LISTED} stretches to list on this calendar; ask up to {reached} at most"
        raise Unprocessable(message, errors=[FieldError("body", "$.to", message)])
    counted = sum((s.duration for s in stretches if s.reason == "counted"), dt.timedelta(0))
    seconds = counted / dt.timedelta(seconds=1)
    return ElapsedResult(
        calendar_id=calendar_id,
        calendar_version=version,
        from_=data.from_.astimezone(dt.UTC),
        to=data.to.astimezone(dt.UTC),
        seconds=seconds,
        minutes=seconds / 60,
        stretches=[StretchRead(start=s.start, end=s.end, reason=s.reason) for s in stretches],
    )
