"""The ceiling for filtered list pages on this machine: the status+assignee page behind a bare Litestar
endpoint (no auth, metrics or logs), either exactly the API's page (`/page`: ``api.tickets.queries``,
JSON built by PostgreSQL) or the same rows decoded and encoded by Python (`/rows`, the earlier design).

    DATABASE_URL=... uvicorn bench.list_ceiling:app --port 8500 --loop uvloop --http httptools --no-access-log
    P=/page wrk -t2 -c64 -d6s --latency -s bench/wrk/list_ceiling.lua http://127.0.0.1:8500
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, Response, get

from api.db import asyncpg_dsn
from api.tickets import queries, store
from api.tickets.schemas import TicketPage

POOL: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncGenerator[None, None]:
    POOL["p"] = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["DATABASE_URL"]),
        min_size=20,
        max_size=20,
        server_settings={"jit": "off", "max_parallel_workers_per_gather": "0", "join_collapse_limit": "1"},
    )
    yield
    await POOL["p"].close()


SQL_ROWS = f"""
WITH page AS (
    SELECT t.id, t.created_at AS sort_key FROM tickets t WHERE t.status = $1 AND t.assignee_id = $2
    ORDER BY t.created_at DESC, t.id DESC LIMIT 51
)
SELECT {store.COLUMNS} FROM page JOIN tickets t ON t.id = page.id {store.JOINS}
ORDER BY page.sort_key DESC, page.id DESC
"""


@get("/rows")
async def rows(status: str, assignee: str) -> TicketPage:
    found = await POOL["p"].fetch(SQL_ROWS, status, uuid.UUID(assignee))
    return TicketPage(data=[store.to_read(row) for row in found[:50]], next_cursor=None)


@get("/page")
async def page(status: str, assignee: str) -> Response[bytes]:
    filters = queries.TicketFilters(status=[status], assignee=[assignee])
    body = await queries.list_tickets(
        POOL["p"], filters, sort="-created", limit=50, cursor=None, include_total=False, me=None
    )
    return Response(content=body, media_type="application/json")


app = Litestar([rows, page], lifespan=[lifespan], logging_config=None, openapi_config=None)
