"""API key management and lookup. Speaks the domain; the routes speak HTTP."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, insert, select, text, tuple_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth.models import ApiKey
from api.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, Principal
from api.auth.tokens import display_prefix, hash_token, new_token
from api.errors import FieldError, NotFound, Unprocessable
from api.pagination import Page, decode_cursor, encode_cursor
from api.people.models import Agent

# Every process evicts its cached keys when this channel names them (see api.auth.cache).
REVOCATION_CHANNEL = "helpdesk_api_key_revoked"
REVOKE_ALL = "*"

_READ_COLUMNS = (
    ApiKey.id,
    ApiKey.name,
    ApiKey.role,
    ApiKey.prefix,
    ApiKey.agent_id,
    ApiKey.created_at,
    ApiKey.revoked_at,
)


def _to_read(row: RowMapping) -> ApiKeyRead:
    return ApiKeyRead(**{column.key: row[column.key] for column in _READ_COLUMNS})


async def create_api_key(conn: AsyncConnection, data: ApiKeyCreate) -> ApiKeyCreated:
    if data.agent_id is not None:
        agent_active = await conn.scalar(select(Agent.active).where(Agent.id == data.agent_id))
        if agent_active is None:
            raise Unprocessable(
                "agent_id does not name an agent.",
                errors=[FieldError("body", "$.agent_id", "no agent with this id")],
            )
        if not agent_active:
            raise Unprocessable(
                "The agent is deactivated.",
                errors=[FieldError("body", "$.agent_id", "agent is deactivated")],
            )
    token = new_token()
    row = (
        (
            await conn.execute(
                insert(ApiKey)
                .values(
                    name=data.name,
                    role=data.role,
                    agent_id=data.agent_id,
                    prefix=display_prefix(token),
                    token_hash=hash_token(token),
                )
                .returning(*_READ_COLUMNS)
            )
        )
        .mappings()
        .one()
    )
    return ApiKeyCreated(**{column.key: row[column.key] for column in _READ_COLUMNS}, token=token)


async def get_api_key(conn: AsyncConnection, key_id: uuid.UUID) -> ApiKeyRead:
    row = (await conn.execute(select(*_READ_COLUMNS).where(ApiKey.id == key_id))).mappings().one_or_none()
    if row is None:
        raise NotFound(f"API key {key_id} does not exist.")
    return _to_read(row)


async def list_api_keys(
    conn: AsyncConnection, *, limit: int, cursor: str | None, include_revoked: bool
) -> Page[ApiKeyRead]:
    query = select(*_READ_COLUMNS).order_by(ApiKey.created_at, ApiKey.id).limit(limit + 1)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    if cursor is not None:
        after = decode_cursor(cursor, tuple[dt.datetime, uuid.UUID])
        query = query.where(tuple_(ApiKey.created_at, ApiKey.id) > tuple_(*after))
    rows = (await conn.execute(query)).mappings().all()
    items = [_to_read(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor((last.created_at, last.id))
    return Page(data=items, next_cursor=next_cursor)


async def revoke_api_key(conn: AsyncConnection, key_id: uuid.UUID) -> ApiKeyRead:
    """Revoke a key; every process drops it from its cache when this transaction commits."""
    row = (
        (
            await conn.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(revoked_at=func.coalesce(ApiKey.revoked_at, func.now()))
                .returning(*_READ_COLUMNS, ApiKey.token_hash)
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"API key {key_id} does not exist.")
    await notify_revoked(conn, row["token_hash"].hex())
    return _to_read(row)


async def notify_revoked(conn: AsyncConnection, payload: str) -> None:
    """Queue a cache eviction; PostgreSQL delivers it only if and when the transaction commits."""
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": REVOCATION_CHANNEL, "payload": payload}
    )


async def find_principal(conn: AsyncConnection, token_hash: bytes) -> Principal | None:
    """The live key with this hash; keys of deactivated agents no longer authenticate."""
    row: Any = (
        await conn.execute(
            # An agent's key acts as that agent: changes are recorded under the agent's name.
            select(
                ApiKey.id, ApiKey.role, ApiKey.agent_id, func.coalesce(Agent.name, ApiKey.name).label("name")
            )
            .outerjoin(Agent, Agent.id == ApiKey.agent_id)
            .where(
                ApiKey.token_hash == token_hash,
                ApiKey.revoked_at.is_(None),
                (Agent.id.is_(None)) | Agent.active,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return Principal(key_id=row.id, role=row.role, agent_id=row.agent_id, name=row.name)
