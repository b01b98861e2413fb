"""Customers, agents and groups. People are deactivated, never deleted: history refers to them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

import msgspec
from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import Select, Table, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth.service import revoke_agent_keys
from api.calendars import zones
from api.errors import Conflict, FieldError, NotFound, Unprocessable
from api.pagination import decode_cursor, encode_cursor
from api.people.models import Agent, Customer, Group, GroupMember
from api.people.schemas import (
    AgentCreate,
    AgentPage,
    AgentRead,
    AgentUpdate,
    CustomerCreate,
    CustomerPage,
    CustomerRead,
    CustomerUpdate,
    GroupCreate,
    GroupPage,
    GroupRead,
    GroupUpdate,
)


def _changes(data: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


def _check_time_zone(time_zone: str | None) -> None:
    if time_zone is None:
        return
    if not zones.is_time_zone(time_zone):
        raise Unprocessable(
            "time_zone is not an IANA time zone.",
            errors=[FieldError("body", "$.time_zone", "unknown IANA time zone")],
        )


def _unique_violation(exc: IntegrityError) -> bool:
    return isinstance(getattr(exc.orig, "__cause__", None), UniqueViolationError) or "unique" in str(exc.orig)


async def _write(conn: AsyncConnection, statement: Any, what: str) -> Any:
    """Run an INSERT/UPDATE … RETURNING; a duplicate email/name/external id is a 409."""
    try:
        return (await conn.execute(statement)).mappings().one_or_none()
    except IntegrityError as exc:
        if _unique_violation(exc):
            raise Conflict(f"Another {what} already uses this {_duplicate_field(exc)}.") from None
        raise


def _duplicate_field(exc: IntegrityError) -> str:
    text = str(exc.orig)
    for field in ("email", "external_id", "name"):
        if field in text:
            return field.replace("_", " ")
    return "value"


async def _page(conn: AsyncConnection, query: Select[Any], table: Any, limit: int, cursor: str | None) -> Any:
    query = query.order_by(table.created_at, table.id).limit(limit + 1)
    if cursor is not None:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        query = query.where(tuple_(table.created_at, table.id) > tuple_(*after))
    rows = (await conn.execute(query)).mappings().all()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor((last["created_at"], last["id"]))
    return rows[:limit], next_cursor


# Customers -------------------------------------------------------------------------------------------

_CUSTOMER = cast(Table, Customer.__table__)


async def create_customer(conn: AsyncConnection, data: CustomerCreate) -> CustomerRead:
    _check_time_zone(data.time_zone)
    row = await _write(
        conn, insert(_CUSTOMER).values(**msgspec.structs.asdict(data)).returning(_CUSTOMER), "customer"
    )
    return CustomerRead(**row)


async def get_customer(conn: AsyncConnection, customer_id: uuid.UUID) -> CustomerRead:
    row = (await conn.execute(select(_CUSTOMER).where(Customer.id == customer_id))).mappings().one_or_none()
    if row is None:
        raise NotFound(f"Customer {customer_id} does not exist.")
    return CustomerRead(**row)


async def list_customers(
    conn: AsyncConnection, *, limit: int, cursor: str | None, email: str | None
) -> CustomerPage:
    query = select(_CUSTOMER)
    if email is not None:
        query = query.where(func.lower(Customer.email) == email.lower())
    rows, next_cursor = await _page(conn, query, Customer, limit, cursor)
    return CustomerPage(data=[CustomerRead(**row) for row in rows], next_cursor=next_cursor)


async def update_customer(
    conn: AsyncConnection, customer_id: uuid.UUID, data: CustomerUpdate
) -> CustomerRead:
    values = _changes(data)
    if "time_zone" in values:
        _check_time_zone(values["time_zone"])
    statement = (
        update(_CUSTOMER)
        .where(Customer.id == customer_id)
        .values(**values, updated_at=func.now())
        .returning(_CUSTOMER)
    )
    row = await _write(conn, statement, "customer")
    if row is None:
        raise NotFound(f"Customer {customer_id} does not exist.")
    return CustomerRead(**row)


# Agents ----------------------------------------------------------------------------------------------

_AGENT = cast(Table, Agent.__table__)


async def create_agent(conn: AsyncConnection, data: AgentCreate) -> AgentRead:
    row = await _write(conn, insert(_AGENT).values(**msgspec.structs.asdict(data)).returning(_AGENT), "agent")
    return AgentRead(**row)


async def get_agent(conn: AsyncConnection, agent_id: uuid.UUID) -> AgentRead:
    row = (await conn.execute(select(_AGENT).where(Agent.id == agent_id))).mappings().one_or_none()
    if row is None:
        raise NotFound(f"Agent {agent_id} does not exist.")
    return AgentRead(**row)


async def list_agents(
    conn: AsyncConnection, *, limit: int, cursor: str | None, active: bool | None
) -> AgentPage:
    query = select(_AGENT)
    if active is not None:
        query = query.where(Agent.active.is_(active))
    rows, next_cursor = await _page(conn, query, Agent, limit, cursor)
    return AgentPage(data=[AgentRead(**row) for row in rows], next_cursor=next_cursor)


async def update_agent(
    conn: AsyncConnection, agent_id: uuid.UUID, data: AgentUpdate
) -> tuple[AgentRead, list[uuid.UUID]]:
    """The agent as changed, and the ids of the API keys the change revoked."""
    values = _changes(data)
    statement = (
        update(_AGENT).where(Agent.id == agent_id).values(**values, updated_at=func.now()).returning(_AGENT)
    )
    row = await _write(conn, statement, "agent")
    if row is None:
        raise NotFound(f"Agent {agent_id} does not exist.")
    revoked: list[uuid.UUID] = []
    if values.get("active") is False:
        revoked = await revoke_agent_keys(conn, agent_id)
    elif values.get("role") == "agent":
        # A key never has more rights than its agent: a demoted agent's admin keys stop for good.
        revoked = await revoke_agent_keys(conn, agent_id, only_admin=True)
    return AgentRead(**row), revoked


# Groups ----------------------------------------------------------------------------------------------

_GROUP = cast(Table, Group.__table__)


async def _check_agents(conn: AsyncConnection, agent_ids: list[uuid.UUID]) -> None:
    if not agent_ids:
        return
    found = set((await conn.execute(select(Agent.id).where(Agent.id.in_(agent_ids)))).scalars())
    missing = [str(agent_id) for agent_id in agent_ids if agent_id not in found]
    if missing:
        raise Unprocessable(
            "member_ids names agents that do not exist.",
            errors=[FieldError("body", "$.member_ids", f"no agent with id {', '.join(missing)}")],
        )


async def _set_members(
    conn: AsyncConnection, group_id: uuid.UUID, agent_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    unique = list(dict.fromkeys(agent_ids))
    await _check_agents(conn, unique)
    await conn.execute(delete(GroupMember).where(GroupMember.group_id == group_id))
    if unique:
        await conn.execute(insert(GroupMember), [{"group_id": group_id, "agent_id": a} for a in unique])
    return sorted(unique)


async def _members(conn: AsyncConnection, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    out: dict[uuid.UUID, list[uuid.UUID]] = {group_id: [] for group_id in group_ids}
    rows = await conn.execute(
        select(GroupMember.group_id, GroupMember.agent_id)
        .where(GroupMember.group_id.in_(group_ids))
        .order_by(GroupMember.agent_id)
    )
    for group_id, agent_id in rows:
        out[group_id].append(agent_id)
    return out


def _group(row: Any, members: list[uuid.UUID]) -> GroupRead:
    return GroupRead(**row, member_ids=members)


async def create_group(conn: AsyncConnection, data: GroupCreate) -> GroupRead:
    statement = insert(_GROUP).values(name=data.name, description=data.description).returning(_GROUP)
    row = await _write(conn, statement, "group")
    members = await _set_members(conn, row["id"], data.member_ids)
    return _group(row, members)


async def get_group(conn: AsyncConnection, group_id: uuid.UUID) -> GroupRead:
    row = (await conn.execute(select(_GROUP).where(Group.id == group_id))).mappings().one_or_none()
    if row is None:
        raise NotFound(f"Group {group_id} does not exist.")
    return _group(row, (await _members(conn, [group_id]))[group_id])


async def list_groups(conn: AsyncConnection, *, limit: int, cursor: str | None) -> GroupPage:
    rows, next_cursor = await _page(conn, select(_GROUP), Group, limit, cursor)
    members = await _members(conn, [row["id"] for row in rows])
    return GroupPage(data=[_group(row, members[row["id"]]) for row in rows], next_cursor=next_cursor)


async def update_group(conn: AsyncConnection, group_id: uuid.UUID, data: GroupUpdate) -> GroupRead:
    values = _changes(data)
    member_ids = values.pop("member_ids", None)
    statement = (
        update(_GROUP).where(Group.id == group_id).values(**values, updated_at=func.now()).returning(_GROUP)
    )
    row = await _write(conn, statement, "group")
    if row is None:
        raise NotFound(f"Group {group_id} does not exist.")
    if member_ids is not None:
        members = await _set_members(conn, group_id, member_ids)
    else:
        members = (await _members(conn, [group_id]))[group_id]
    return _group(row, members)
