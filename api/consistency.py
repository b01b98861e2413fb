"""Read-your-writes with a read replica: the consistency token.

With ``HELPDESK_READ_DATABASE_URL`` set, every successful write answers ``X-Consistency-Token``: the
primary's WAL position after the write committed (``pg_current_wal_insert_lsn()``, which is at or past
the commit record). A client that must see that write sends the token back on its reads, in the same
header; a read that could go to the replica (:mod:`api.replica`) goes there only when the replica has
replayed that far, and otherwise to the primary. One header name both ways, like Azure Cosmos DB's
session token: the client keeps the newest token it received and sends it; it never needs to parse it.
A token that is not one (a typo, a token from another server) is treated as "newer than anything", so
the read goes to the primary: never wrong, only slower.

Without a replica no token is issued (no extra round trip per write) and the header is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Annotated, TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncConnection

from api.replica import ReadRouter, parse_lsn, read_router

log = logging.getLogger(__name__)

HEADER = "X-Consistency-Token"
_HEADER_BYTES = HEADER.lower().encode()
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNPARSEABLE = 1 << 64  # past any WAL position: only the primary can serve it


ConsistencyToken = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        description="Read your own writes: the `X-Consistency-Token` of your latest write. The read is "
        "served by a database that has that write (sent without it, the read may lag a few seconds "
        "behind writes when the service reads from a replica).",
        examples=[Example(value="0/3000148")],
    ),
]
"""A read's parameter for the token: declaring it documents the header on the operation."""


def token_of(raw: str | None) -> int | None:
    """The consistency token a read carries: None when it sent none."""
    if raw is None:
        return None
    lsn = parse_lsn(raw)
    return _UNPARSEABLE if lsn is None else lsn


Reads: TypeAlias = NamedDependency[AsyncConnection]
"""Annotate a read-only handler's parameter ``reads: Reads`` to read where :mod:`api.replica` says:
the replica when it has the client's writes, else the primary (autocommit, like ``tx`` for GETs)."""


async def provide_reads(
    state: State, consistency_token: ConsistencyToken = None
) -> AsyncGenerator[AsyncConnection, None]:
    async with read_router(state).connection(token_of(consistency_token)) as conn:
        yield conn


def consistency_token_middleware(app: ASGIApp) -> ASGIApp:
    """Adds ``X-Consistency-Token`` to successful writes when a replica serves reads.

    The response head is sent after the request's transaction committed (``api.db``), so the WAL
    position read here is at or past the commit."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        router: ReadRouter | None = getattr(scope["app"].state, "read_router", None)
        method = str(scope.get("method", "GET"))  # websockets have none: treated as reads
        if method in _SAFE_METHODS or router is None or not router.enabled:
            await app(scope, receive, send)
            return

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                try:
                    lsn = await router.primary_pool.fetchval("SELECT pg_current_wal_insert_lsn()::text")
                except Exception as exc:  # the write is committed: answer it; reads will use the primary
                    log.warning("no consistency token for this write: %s", exc)
                else:
                    headers = [*message.get("headers", ()), (_HEADER_BYTES, lsn.encode())]
                    message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_token)

    return middleware
