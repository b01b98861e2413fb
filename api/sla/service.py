"""SLA policy use cases: create, read, list, change. Every change is a new version, kept as it was, and
tells every process to drop its cached policies (``cache.CHANNEL``) when the transaction commits."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.db import raw_connection, raw_transaction
from api.errors import FieldError, NotFound, PreconditionFailed, Unprocessable
from api.pagination import decode_cursor, encode_cursor
from api.sla import clocks, condition_values, reevaluation
from api.sla.cache import CHANNEL
from api.sla.policies import decode_targets, stored_targets, target_seconds
from api.sla.schemas import (
    Conditions,
    SlaPolicyCreate,
    SlaPolicyPage,
    SlaPolicyRead,
    SlaPolicyUpdate,
    Targets,
    TargetsInput,
)

_COLUMNS = (
    "id, version, name, position, active, calendar_id, conditions::text AS conditions, "
    "targets::text AS targets, created_at, updated_at"
)
_TAG_OPERATORS = {"includes", "excludes"}


def _to_read(row: asyncpg.Record) -> SlaPolicyRead:
    return SlaPolicyRead(
        id=row["id"],
        version=row["version"],
        name=row["name"],
        position=row["position"],
        active=row["active"],
        calendar_id=row["calendar_id"],
        conditions=msgspec.json.decode(row["conditions"], type=Conditions),
        targets=decode_targets(row["targets"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _target_errors(targets: TargetsInput) -> list[FieldError]:
    """What makes written targets unusable: no length, two lengths, or a warning lead that leaves no
    time to warn in (at least as long as the target: the warning would fall before the cycle starts)."""
    errors = []
    for priority, metrics in targets.items():
        for name in clocks.METRICS:
            target = getattr(metrics, name)
            if target is None:
                continue
            path = f"$.targets.{priority}.{name}"
            if target.seconds is not msgspec.UNSET and target.minutes is not msgspec.UNSET:
                errors.append(FieldError("body", f"{path}.minutes", "give seconds or minutes, not both"))
                continue
            if target.warning_seconds is not msgspec.UNSET and target.warning_minutes is not msgspec.UNSET:
                message = "give warning_seconds or warning_minutes, not both"
                errors.append(FieldError("body", f"{path}.warning_minutes", message))
                continue
            seconds, lead = target_seconds(target)
            if seconds is None:
                errors.append(FieldError("body", f"{path}.seconds", "required: the target in seconds"))
            elif lead >= seconds:
                field = (
                    "warning_minutes" if target.warning_minutes is not msgspec.UNSET else "warning_seconds"
                )
                message = f"the warning lead must be shorter than the target ({seconds} s)"
                errors.append(FieldError("body", f"{path}.{field}", message))
    return errors


def _validate(
    conditions: Conditions, targets: Targets, calendar_id: uuid.UUID | None, errors: list[FieldError]
) -> None:
    for group in ("all", "any"):
        for i, condition in enumerate(getattr(conditions, group)):
            tag = condition.field == "tags"
            if tag != (condition.operator in _TAG_OPERATORS):
                allowed = "includes or excludes" if tag else "is or is_not"
                path = f"$.conditions.{group}[{i}].operator"
                errors.append(FieldError("body", path, f"{condition.field} takes {allowed}"))
            if (problem := condition_values.value_problem(condition)) is not None:
                errors.append(FieldError("body", f"$.conditions.{group}[{i}].value", problem))
    if calendar_id is None:
        for priority, metrics in targets.items():
            for name in clocks.METRICS:
                target = getattr(metrics, name)
                if target is not None and target.time == "business":
                    path = f"$.targets.{priority}.{name}.time"
                    errors.append(FieldError("body", path, "business time needs the policy's calendar_id"))
    if errors:
        raise Unprocessable("The policy is not valid.", errors=errors)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _check_calendar(raw: asyncpg.Connection, calendar_id: uuid.UUID | None) -> None:
    if calendar_id is None:
        return
    if not await raw.fetchval("SELECT EXISTS (SELECT 1 FROM business_calendars WHERE id = $1)", calendar_id):
        raise Unprocessable(
            "calendar_id does not name a business calendar.",
            errors=[FieldError("body", "$.calendar_id", "no business calendar with this id")],
        )


async def _record_version(raw: asyncpg.Connection, read: SlaPolicyRead) -> None:
    await raw.execute(
        "INSERT INTO sla_policy_versions (policy_id, version, document) VALUES ($1, $2, $3::jsonb)",
        read.id,
        read.version,
        _json(read),
    )
    await raw.execute("SELECT pg_notify($1, $2)", CHANNEL, str(read.id))
    await reevaluation.request(raw, f"SLA policy {read.id} version {read.version}")


async def create_policy(conn: AsyncConnection, data: SlaPolicyCreate) -> SlaPolicyRead:
    targets = stored_targets(data.targets)
    _validate(data.conditions, targets, data.calendar_id, _target_errors(data.targets))
    raw = await raw_transaction(conn)
    await _check_calendar(raw, data.calendar_id)
    row = await raw.fetchrow(
        "INSERT INTO sla_policies (name, position, active, calendar_id, conditions, targets) "
        f"VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb) RETURNING {_COLUMNS}",
        data.name,
        data.position,
        data.active,
        data.calendar_id,
        _json(data.conditions),
        _json(targets),
    )
    read = _to_read(row)
    await _record_version(raw, read)
    return read


async def get_policy(conn: AsyncConnection, policy_id: uuid.UUID) -> SlaPolicyRead:
    raw = await raw_connection(conn)
    row = await raw.fetchrow(f"SELECT {_COLUMNS} FROM sla_policies WHERE id = $1", policy_id)
    if row is None:
        raise NotFound(f"SLA policy {policy_id} does not exist.")
    return _to_read(row)


async def list_policies(conn: AsyncConnection, *, limit: int, cursor: str | None) -> SlaPolicyPage:
    raw = await raw_connection(conn)
    after = decode_cursor(cursor, tuple[int, str]) if cursor else (-1, "")
    rows = await raw.fetch(
        f"SELECT {_COLUMNS} FROM sla_policies WHERE (position, id::text) > ($1, $2) "
        "ORDER BY position, id::text LIMIT $3",
        after[0],
        after[1],
        limit + 1,
    )
    items = [_to_read(row) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].position, str(items[-1].id))) if len(rows) > limit else None
    return SlaPolicyPage(data=items, next_cursor=next_cursor)


async def update_policy(
    conn: AsyncConnection, policy_id: uuid.UUID, data: SlaPolicyUpdate, expected_version: int | None
) -> SlaPolicyRead:
    raw = await raw_transaction(conn)
    row = await raw.fetchrow(f"SELECT {_COLUMNS} FROM sla_policies WHERE id = $1 FOR UPDATE", policy_id)
    if row is None:
        raise NotFound(f"SLA policy {policy_id} does not exist.")
    current = _to_read(row)
    if expected_version is not None and current.version != expected_version:
        raise PreconditionFailed(
            f"SLA policy {policy_id} changed since you read it (version {current.version}).",
            headers={"ETag": f'"{current.version}"'},
        )
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    errors = []
    if "targets" in changes:
        errors = _target_errors(changes["targets"])
        changes["targets"] = stored_targets(changes["targets"])
    merged = msgspec.structs.replace(current, **changes)
    if merged == current and not errors:
        return current
    _validate(merged.conditions, merged.targets, merged.calendar_id, errors)
    await _check_calendar(raw, merged.calendar_id)
    row = await raw.fetchrow(
        "UPDATE sla_policies SET name = $2, position = $3, active = $4, calendar_id = $5, "
        "conditions = $6::jsonb, targets = $7::jsonb, version = version + 1, updated_at = now() "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        policy_id,
        merged.name,
        merged.position,
        merged.active,
        merged.calendar_id,
        _json(merged.conditions),
        _json(merged.targets),
    )
    read = _to_read(row)
    await _record_version(raw, read)
    return read
