"""The ceiling for filtered list pages on this machine: the status+assignee page behind a bare Litestar
endpoint (no auth, metrics or logs): exactly the API's page (`/page`, ``api.tickets.queries``) or the
plainest page PostgreSQL can render (`/json`: one json_agg, native timestamps, no cursor).

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

POOL: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncGenerator[None, None]:
    POOL["p"] = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["DATABASE_URL"]),
        min_size=20,
        max_size=20,
        # The API's statement-pool settings (api.db.create_statement_pool).
        server_settings={"jit": "off", "max_parallel_workers_per_gather": "0", "join_collapse_limit": "1"},
    )
    yield
    await POOL["p"].close()


PAGE = """
WITH page AS (
    SELECT t.id, t.created_at AS sort_key FROM tickets t WHERE t.status = $1 AND t.assignee_id = $2
    ORDER BY t.created_at DESC, t.id DESC LIMIT 51
)
"""
SQL_JSON = f"""{PAGE}
SELECT json_build_object('data', coalesce(json_agg(json_build_object(
    'id', t.id, 'subject', t.subject, 'status', t.status, 'priority', t.priority, 'channel', t.channel,
    'requester', json_build_object('id', t.requester_id, 'name', c.name, 'email', c.email),
    'assignee', CASE WHEN t.assignee_id IS NULL THEN NULL
                ELSE json_build_object('id', t.assignee_id, 'name', a.name, 'email', a.email) END,
    'group', CASE WHEN t.group_id IS NULL THEN NULL
             ELSE json_build_object('id', t.group_id, 'name', g.name) END,
    'tags', t.tags, 'external_ref', t.external_ref, 'follow_up_of', t.follow_up_of, 'version', t.version,
    'created_at', t.created_at, 'updated_at', t.updated_at, 'first_agent_reply_at', t.first_agent_reply_at,
    'resolved_at', t.resolved_at, 'closed_at', t.closed_at
) ORDER BY page.sort_key DESC, page.id DESC), '[]'::json), 'next_cursor', NULL)::text
FROM page JOIN tickets t ON t.id = page.id {store.JOINS}
"""


@get("/page")
async def page(status: str, assignee: str) -> Response[bytes]:
    filters = queries.TicketFilters(status=[status], assignee=[assignee])
    body = await queries.list_tickets(
        POOL["p"], filters, sort="-created", limit=50, cursor=None, include_total=False, me=None
    )
    return Response(content=body, media_type="application/json")


@get("/json")
async def rendered(status: str, assignee: str) -> Response[bytes]:
    body = await POOL["p"].fetchval(SQL_JSON, status, uuid.UUID(assignee))
    return Response(content=body.encode(), media_type="application/json")


app = Litestar([page, rendered], lifespan=[lifespan], logging_config=None, openapi_config=None)
