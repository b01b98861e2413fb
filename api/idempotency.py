"""``Idempotency-Key`` for every POST: a retry gets the first response back without the work being redone.

The stored response is written in the same transaction as the work, so it exists exactly when the work
was committed. A transaction-scoped advisory lock on (API key, idempotency key) makes a concurrent
duplicate fail fast with 409 instead of queueing behind the first request. Keys are scoped per API key
and expire after :data:`KEY_TTL`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter
from sqlalchemy import DateTime, Integer, LargeBinary, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from api.auth.schemas import Principal
from api.db import Base, raw_transaction
from api.errors import Conflict, FieldError, Unprocessable

KEY_TTL = dt.timedelta(hours=24)
REPLAY_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=255,
        description="Makes the POST safe to retry: the same key and body return the first response "
        "(for 24 h); the same key with another body is refused with 422, a concurrent duplicate with 409.",
    ),
]


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    api_key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


def _lock_id(api_key_id: uuid.UUID, key: str) -> int:
    digest = hashlib.sha256(api_key_id.bytes + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def fingerprint(method: str, path: str, body: Any) -> bytes:
    """What makes two requests "the same": method, path and the decoded body (whitespace is irrelevant)."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + msgspec.json.encode(body)).digest()


async def idempotent(
    tx: AsyncConnection,
    request: Request[Principal, Any, Any],
    key: str | None,
    body: Any,
    work: Callable[[], Awaitable[Response[Any]]],
) -> Response[Any]:
    """Run ``work`` once per idempotency key; without a key it simply runs."""
    if key is None:
        return await work()
    principal: Principal = request.user
    conn = await raw_transaction(tx)
    if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _lock_id(principal.key_id, key)):
        raise Conflict("A request with this Idempotency-Key is still in progress; retry after it completes.")
    print_ = fingerprint(request.method, request.url.path, body)
    stored = await conn.fetchrow(
        "SELECT fingerprint, status_code, body, headers::text AS headers, expires_at > now() AS live "
        "FROM idempotency_keys WHERE api_key_id = $1 AND key = $2",
        principal.key_id,
        key,
    )
    if stored is not None and stored["live"]:
        if stored["fingerprint"] != print_:
            raise Unprocessable(
                "This Idempotency-Key was used with a different request.",
                errors=[FieldError("header", "Idempotency-Key", "already used with another request body")],
            )
        headers = {**msgspec.json.decode(stored["headers"]), REPLAY_HEADER: "true"}
        return Response(
            stored["body"], status_code=stored["status_code"], media_type="application/json", headers=headers
        )
    response = await work()
    body_bytes = (
        response.content if isinstance(response.content, bytes) else msgspec.json.encode(response.content)
    )
    headers = {
        name: value for name, value in response.headers.items() if name.lower() in ("etag", "location")
    }
    await conn.execute(
        "INSERT INTO idempotency_keys (api_key_id, key, fingerprint, status_code, body, headers, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb, now() + $7::interval) "
        "ON CONFLICT (api_key_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, "
        "status_code = excluded.status_code, body = excluded.body, headers = excluded.headers, "
        "created_at = now(), expires_at = excluded.expires_at",
        principal.key_id,
        key,
        print_,
        response.status_code,
        body_bytes,
        msgspec.json.encode(headers).decode(),
        KEY_TTL,
    )
    response.content = body_bytes
    return response


async def purge_expired(conn: AsyncConnection, batch: int = 1000) -> int:
    """Delete a batch of expired keys (run by the scheduled-work job)."""
    raw = await raw_transaction(conn)
    result: str = await raw.execute(
        "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
        "SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT $1))",
        batch,
    )
    return int(result.split()[-1])


def created(content: Any, location: str) -> Response[Any]:
    """A 201 with ``Location`` (stored with an idempotent response, so a replay sends it too)."""
    return Response(content, status_code=201, headers={"Location": location})


async def run_once(
    tx: AsyncConnection,
    request: Request[Principal, Any, Any],
    key: str | None,
    body: Any,
    work: Callable[[], Awaitable[Any]],
    location: Callable[[Any], str] | None = None,
) -> Response[Any]:
    """:func:`idempotent` for a route whose work returns a plain value, answered with the route's status
    (and ``Location``, from the created value, when given)."""
    status_code = request.route_handler.status_code

    async def respond() -> Response[Any]:
        value = await work()
        headers = {"Location": location(value)} if location is not None else None
        return Response(value, status_code=status_code, headers=headers)

    return await idempotent(tx, request, key, body, respond)
