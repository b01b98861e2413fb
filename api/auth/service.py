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
    ApiKey.speaks_for_customers,
    ApiKey.created_at,
    ApiKey.revoked_at,
)


def _to_read(row: RowMapping) -> ApiKeyRead:
    return ApiKeyRead(**{column.key: row[column.key] for column in _READ_COLUMNS})


async def _check_agent(conn: AsyncConnection, data: ApiKeyCreate) -> None:
    """A key bound to an agent acts as that agent: the agent is active, and the key has no more rights."""
    if data.speaks_for_customers:
        raise Unprocessable(
            "An agent's key writes as that agent; only an integration key may speak for customers.",
            errors=[FieldError("body", "$.speaks_for_customers", "not allowed with agent_id")],
        )
    agent = (
        await conn.execute(select(Agent.active, Agent.role).where(Agent.id == data.agent_id))
    ).one_or_none()
    if agent is None:
        raise Unprocessable(
            "agent_id does not name an agent.",
            errors=[FieldError("body", "$.agent_id", "no agent with this id")],
        )
    if not agent.active:
        raise Unprocessable(
            "The agent is deactivated.",
            errors=[FieldError("body", "$.agent_id", "agent is deactivated")],
        )
    if data.role == "admin" and agent.role != "admin":
        raise Unprocessable(
            "A key bound to an agent has no more rights than the agent, whose role is agent.",
            errors=[FieldError("body", "$.role", "the agent's role is agent: an admin key needs an admin")],
        )


async def create_api_key(conn: AsyncConnection, data: ApiKeyCreate) -> ApiKeyCreated:
    if data.agent_id is not None:
        await _check_agent(conn, data)
    token = new_token()
    row = (
        (
            await conn.execute(
                insert(ApiKey)
                .values(
                    name=data.name,
                    role=data.role,
                    agent_id=data.agent_id,
                    speaks_for_customers=data.speaks_for_customers,
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


async def revoke_agent_keys(
    conn: AsyncConnection, agent_id: uuid.UUID, *, only_admin: bool = False
) -> list[uuid.UUID]:
    """Revoke an agent's live keys (all, or only its admin keys) in the caller's transaction.

    Revoked, not merely refused while the agent is inactive: reactivating the agent later must not
    bring back keys that stopped working at deactivation (they may have leaked meanwhile).
    """
    statement = (
        update(ApiKey)
        .where(ApiKey.agent_id == agent_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    )
    if only_admin:
        statement = statement.where(ApiKey.role == "admin")
    revoked = list((await conn.execute(statement)).scalars())
    await notify_revoked(conn, REVOKE_ALL)
    return revoked


async def notify_revoked(conn: AsyncConnection, payload: str) -> None:
    """Queue a cache eviction; PostgreSQL delivers it only if and when the transaction commits."""
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": REVOCATION_CHANNEL, "payload": payload}
    )


async def find_principal(conn: AsyncConnection, token_hash: bytes) -> Principal | None:
    """The live key with this hash; keys of deactivated agents, and admin keys of agents who are not
    admins, no longer authenticate (revoked when that happened; checked here too, for keys changed
    behind the API's back)."""
    row: Any = (
        await conn.execute(
            # An agent's key acts as that agent: changes are recorded under the agent's name.
            select(
                ApiKey.id,
                ApiKey.role,
                ApiKey.agent_id,
                ApiKey.speaks_for_customers,
                func.coalesce(Agent.name, ApiKey.name).label("name"),
            )
            .outerjoin(Agent, Agent.id == ApiKey.agent_id)
            .where(
                ApiKey.token_hash == token_hash,
                ApiKey.revoked_at.is_(None),
                (Agent.id.is_(None)) | (Agent.active & ((ApiKey.role == "agent") | (Agent.role == "admin"))),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return Principal(
        key_id=row.id,
        role=row.role,
        agent_id=row.agent_id,
        name=row.name,
        speaks_for_customers=row.speaks_for_customers,
    )
