"""The ceiling for filtered list pages on this machine: list pages behind a bare Litestar endpoint (no
auth, metrics or logs).

- `/list`: any of the three benchmark lists (status+assignee, status+tag, text search) with exactly the
  API's SQL (``api.tickets.queries.list_tickets``) on exactly the API's statement pool
  (``api.db.create_statement_pool``: same size from ``HELPDESK_DB_POOL_SIZE``, same session settings,
  no per-release reset). Takes the same query string as ``GET /v1/tickets`` for these filters
  (``status`` repeatable, ``assignee``, ``tag``, ``q``, ``limit``), so bench/wrk/list.lua drives it
  with ``LIST_PATH=/list``. What bench/list_floor.py compares the API against.
- `/page`: the status+assignee page through ``list_tickets`` (the earlier form of `/list`).
- `/json`: the plainest status+assignee page PostgreSQL can render (one json_agg, native timestamps, no
  cursor).

    DATABASE_URL=... uvicorn bench.list_ceiling:app --port 8500 --loop uvloop --http httptools --no-access-log
    P=/page wrk -t2 -c64 -d6s --latency -s bench/wrk/list_ceiling.lua http://127.0.0.1:8500
    LIST_PATH=/list MODE=status_tag wrk -t2 -c64 -d6s --latency -s bench/wrk/list.lua http://127.0.0.1:8500
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, Response, get

from api.db import asyncpg_dsn, create_statement_pool
from api.settings import load_settings
from api.tickets import queries, store

POOL: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncGenerator[None, None]:
    POOL["api"] = await create_statement_pool(load_settings())
    # /page and /json use their own pool of 20 (as measured in bench/RESULTS.md); bench/list_floor.py only
    # needs /list and sets LIST_CEILING_LEGACY_POOL=0 so the shared server's connections are not wasted.
    if os.environ.get("LIST_CEILING_LEGACY_POOL", "1") == "0":
        yield
        await POOL["api"].close()
        return
    POOL["p"] = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["DATABASE_URL"]),
        min_size=20,
        max_size=20,
        # The API's statement-pool settings (api.db.create_statement_pool).
        server_settings={"jit": "off", "max_parallel_workers_per_gather": "0", "join_collapse_limit": "1"},
    )
    yield
    await POOL["p"].close()
    await POOL["api"].close()


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


@get("/list")
async def list_page(
    status: list[str] | None = None,
    assignee: list[str] | None = None,
    tag: list[str] | None = None,
    q: str | None = None,
    limit: int = 50,
) -> Response[bytes]:
    """The API's list page for these filters: same SQL, same pool, no middleware."""
    filters = queries.TicketFilters(status=status, assignee=assignee, tag=tag, q=q)
    body = await queries.list_tickets(
        POOL["api"], filters, sort="-created", limit=limit, cursor=None, include_total=False, me=None
    )
    return Response(content=body, media_type="application/json")


@get("/json")
async def rendered(status: str, assignee: str) -> Response[bytes]:
    body = await POOL["p"].fetchval(SQL_JSON, status, uuid.UUID(assignee))
    return Response(content=body.encode(), media_type="application/json")


app = Litestar([list_page, page, rendered], lifespan=[lifespan], logging_config=None, openapi_config=None)
