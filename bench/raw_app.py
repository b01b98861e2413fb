"""The comparison point: a bare Litestar endpoint fetching the same ticket row with a raw asyncpg pool.

No authentication, no request ids, metrics or transaction: just the query and the same wire struct.
The pool is set up as the API's statement pool is (no session reset on release, the same session
settings), so the floor pays no round trip the API does not: asyncpg's default reset (``RESET ALL;
UNLISTEN *; …``) after every request made this floor slower than the API itself (issue 19).

    DATABASE_URL=... uvicorn bench.raw_app:app --port 8002 --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, get
from litestar.exceptions import NotFoundException

from api.db import asyncpg_dsn
from api.tickets import store
from api.tickets.schemas import TicketRead

POOL: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncGenerator[None, None]:
    size = int(os.environ.get("HELPDESK_DB_POOL_SIZE", "20"))
    POOL["pool"] = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["DATABASE_URL"]),
        min_size=size,
        max_size=size,
        reset=_no_reset,
        server_settings={"jit": "off", "max_parallel_workers_per_gather": "0", "join_collapse_limit": "1"},
    )
    yield
    await POOL["pool"].close()


async def _no_reset(_: asyncpg.Connection) -> None:
    """Single statements only, no session state to reset (as the API's statement pool)."""


@get("/raw/tickets/{ticket_id:int}")
async def raw_ticket(ticket_id: int) -> TicketRead:
    row = await POOL["pool"].fetchrow(f"{store.SELECT} WHERE t.id = $1", ticket_id)
    if row is None:
        raise NotFoundException()
    return store.to_read(row)


app = Litestar(route_handlers=[raw_ticket], lifespan=[lifespan], openapi_config=None, logging_config=None)
