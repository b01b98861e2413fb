"""Rule use cases: create, read, list, change (every change a new version, kept as it was), read old
versions. Each change tells every process that rules changed (``NOTIFY`` on :data:`CHANNEL`, sent when
the transaction commits)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.conditions import tree as conditions
from api.db import raw_connection, raw_transaction
from api.errors import FieldError, NotFound, PreconditionFailed, Unprocessable
from api.pagination import decode_cursor, encode_cursor
from api.rules.actions import referenced, template_errors
from api.rules.schemas import Action, RuleCreate, RulePage, RuleRead, RuleUpdate, Trigger

CHANNEL = "helpdesk_rules_changed"
"""``NOTIFY`` channel of rule changes; the payload is the rule's id."""

_COLUMNS = (
    "id, version, name, description, trigger, conditions::text AS conditions, actions::text AS actions, "
    "active, position, created_at, updated_at"
)
_decode_actions = msgspec.json.Decoder(list[Action]).decode


def _to_read(row: asyncpg.Record) -> RuleRead:
    return RuleRead(
        id=row["id"],
        version=row["version"],
        name=row["name"],
        description=row["description"],
        trigger=row["trigger"],
        conditions=msgspec.json.decode(row["conditions"]),
        actions=_decode_actions(row["actions"]),
        active=row["active"],
        position=row["position"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# -- Validation -----------------------------------------------------------------------------------------


async def checked_tree(
    raw: asyncpg.Connection,
    trigger: Trigger,
    tree: Any,
    actions: list[Action],
    *,
    require_time_fact: bool = True,
) -> conditions.Group:
    """The rule's conditions read and checked, its actions' templates, calendars, agents and groups
    checked: every problem in one 422, at its JSON path."""
    errors = conditions.errors_of(tree, trigger) + template_errors(actions)
    if errors:
        raise Unprocessable("The rule is not valid.", errors=errors)
    parsed = conditions.parse(tree, trigger)
    leaves = parsed.leaves()
    if require_time_fact and trigger == "on_time" and not any(leaf.kind == "time" for leaf in leaves):
        errors.append(
            FieldError(
                "body", "$.conditions", "an on_time rule needs a time condition (since_… or until_sla_due…)"
            )
        )
    errors += await _missing_references(raw, leaves, actions)
    if errors:
        raise Unprocessable("The rule is not valid.", errors=errors)
    return parsed


_REFERENCES = """
SELECT (SELECT coalesce(array_agg(id), '{}') FROM business_calendars WHERE id = ANY($1::uuid[])) AS calendars,
       (SELECT coalesce(array_agg(id), '{}') FROM agents WHERE id = ANY($2::uuid[]) AND active) AS agents,
       (SELECT coalesce(array_agg(id), '{}') FROM groups WHERE id = ANY($3::uuid[]) AND active) AS groups
"""


async def _missing_references(
    raw: asyncpg.Connection, leaves: list[conditions.Leaf], actions: list[Action]
) -> list[FieldError]:
    calendars = {
        leaf.path: leaf.value.calendar_id
        for leaf in leaves
        if leaf.field.type == "duration" and leaf.value.calendar_id is not None
    }
    agents, groups = referenced(actions)
    if not (calendars or agents or groups):
        return []
    row = await raw.fetchrow(_REFERENCES, list(set(calendars.values())), list(agents), list(groups))
    errors = [
        FieldError("body", f"{path}.value.calendar_id", "no business calendar with this id")
        for path, calendar_id in calendars.items()
        if calendar_id not in set(row["calendars"])
    ]
    for i, action in enumerate(actions):
        agent_id = getattr(action, "agent_id", None)
        if agent_id is not None and agent_id not in set(row["agents"]):
            errors.append(FieldError("body", f"$.actions[{i}].agent_id", "no active agent with this id"))
        group_id = getattr(action, "group_id", None)
        if group_id is not None and group_id not in set(row["groups"]):
            errors.append(FieldError("body", f"$.actions[{i}].group_id", "no active group with this id"))
    return errors


def check_body(data: RuleUpdate) -> None:
    """What a change's body gets wrong by itself, whatever the rule it changes: refused (422) before
    the rule is read, so a bad body is a 422 whatever ``If-Match`` says."""
    errors = []
    if data.conditions is not msgspec.UNSET:
        trigger = "any" if data.trigger is msgspec.UNSET else data.trigger
        errors += conditions.errors_of(data.conditions, trigger)
    if data.actions is not msgspec.UNSET:
        errors += template_errors(data.actions)
    if errors:
        raise Unprocessable("The rule is not valid.", errors=errors)


# -- Writes ---------------------------------------------------------------------------------------------


async def _record_version(raw: asyncpg.Connection, read: RuleRead) -> None:
    await raw.execute(
        "INSERT INTO rule_versions (rule_id, version, document) VALUES ($1, $2, $3::jsonb)",
        read.id,
        read.version,
        _json(read),
    )
    await raw.execute("SELECT pg_notify($1, $2)", CHANNEL, str(read.id))


async def create_rule(conn: AsyncConnection, data: RuleCreate) -> RuleRead:
    raw = await raw_transaction(conn)
    tree = await checked_tree(raw, data.trigger, data.conditions, data.actions)
    row = await raw.fetchrow(
        "INSERT INTO rules (name, description, trigger, conditions, actions, active, position) "
        f"VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7) RETURNING {_COLUMNS}",
        data.name,
        data.description,
        data.trigger,
        _json(conditions.document(tree)),
        _json(data.actions),
        data.active,
        data.position,
    )
    read = _to_read(row)
    await _record_version(raw, read)
    return read


async def get_rule(conn: AsyncConnection, rule_id: uuid.UUID) -> RuleRead:
    raw = await raw_connection(conn)
    row = await raw.fetchrow(f"SELECT {_COLUMNS} FROM rules WHERE id = $1", rule_id)
    if row is None:
        raise NotFound(f"Rule {rule_id} does not exist.")
    return _to_read(row)


async def list_rules(conn: AsyncConnection, *, limit: int, cursor: str | None) -> RulePage:
    """Rules in the order they run: by position, then id."""
    raw = await raw_connection(conn)
    after = decode_cursor(cursor, tuple[int, str]) if cursor else (-1, "")
    rows = await raw.fetch(
        f"SELECT {_COLUMNS} FROM rules WHERE (position, id::text) > ($1, $2) "
        "ORDER BY position, id::text LIMIT $3",
        after[0],
        after[1],
        limit + 1,
    )
    items = [_to_read(row) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].position, str(items[-1].id))) if len(rows) > limit else None
    return RulePage(data=items, next_cursor=next_cursor)


async def update_rule(
    conn: AsyncConnection, rule_id: uuid.UUID, data: RuleUpdate, expected_version: int | None
) -> RuleRead:
    raw = await raw_transaction(conn)
    row = await raw.fetchrow(f"SELECT {_COLUMNS} FROM rules WHERE id = $1 FOR UPDATE", rule_id)
    if row is None:
        raise NotFound(f"Rule {rule_id} does not exist.")
    current = _to_read(row)
    if expected_version is not None and current.version != expected_version:
        raise PreconditionFailed(
            f"Rule {rule_id} changed since you read it (version {current.version}).",
            headers={"ETag": f'"{current.version}"'},
        )
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    merged = msgspec.structs.replace(current, **changes)
    tree = await checked_tree(raw, merged.trigger, merged.conditions, merged.actions)
    merged = msgspec.structs.replace(merged, conditions=conditions.document(tree))
    if merged == current:
        return current
    row = await raw.fetchrow(
        "UPDATE rules SET name = $2, description = $3, trigger = $4, conditions = $5::jsonb, "
        "actions = $6::jsonb, active = $7, position = $8, version = version + 1, updated_at = now() "
        f"WHERE id = $1 RETURNING {_COLUMNS}",
        rule_id,
        merged.name,
        merged.description,
        merged.trigger,
        _json(merged.conditions),
        _json(merged.actions),
        merged.active,
        merged.position,
    )
    read = _to_read(row)
    await _record_version(raw, read)
    return read


# -- Versions -------------------------------------------------------------------------------------------


async def list_versions(
    conn: AsyncConnection, rule_id: uuid.UUID, *, limit: int, cursor: str | None
) -> RulePage:
    """Every version of a rule, oldest first."""
    raw = await raw_connection(conn)
    after = decode_cursor(cursor, tuple[int])[0] if cursor else 0
    rows = await raw.fetch(
        "SELECT version, document::text AS document FROM rule_versions WHERE rule_id = $1 AND version > $2 "
        "ORDER BY version LIMIT $3",
        rule_id,
        after,
        limit + 1,
    )
    if not rows and not await raw.fetchval("SELECT EXISTS (SELECT 1 FROM rules WHERE id = $1)", rule_id):
        raise NotFound(f"Rule {rule_id} does not exist.")
    items = [msgspec.json.decode(row["document"], type=RuleRead) for row in rows[:limit]]
    next_cursor = encode_cursor((items[-1].version,)) if len(rows) > limit else None
    return RulePage(data=items, next_cursor=next_cursor)


async def get_version(conn: AsyncConnection, rule_id: uuid.UUID, version: int) -> RuleRead:
    raw = await raw_connection(conn)
    document = await raw.fetchval(
        "SELECT document::text FROM rule_versions WHERE rule_id = $1 AND version = $2", rule_id, version
    )
    if document is None:
        raise NotFound(f"Rule {rule_id} has no version {version}.")
    return msgspec.json.decode(document, type=RuleRead)
