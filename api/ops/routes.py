"""Operator endpoints: liveness, readiness and Prometheus metrics. No API key needed."""

from __future__ import annotations

import msgspec
from litestar import get
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth.guards import PUBLIC
from api.availability import DATABASE_AWAY, unavailability
from api.errors import ServiceUnavailable
from api.migrations import head_revision
from api.observability import render_metrics
from api.openapi import problems

PUBLIC_OPT = {PUBLIC: True}
SCHEMA_RETRY_AFTER_SECONDS = 30  # a deploy's migration step takes a while


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    database: str
    schema_revision: str | None
    expected_revision: str


@get("/healthz", operation_id="getHealth", opt=PUBLIC_OPT, tags=["Operations"])
async def healthz() -> Health:
    """Liveness: the process is up and serving.

    Answers 200 as long as the process can serve requests; it does not touch the database (see
    `getReadiness`). Needs no API key.
    """
    return Health(status="ok")


@get("/readyz", operation_id="getReadiness", opt={**PUBLIC_OPT, **problems(503)}, tags=["Operations"])
async def readyz(state: State) -> Readiness:
    """Readiness: the database answers and its schema is at the latest migration.

    Answers 503 with a problem document and `Retry-After` otherwise (database down, restarting, out of
    connections, or behind on migrations), so a load balancer stops sending traffic.
    """
    engine: AsyncEngine = state.engine
    expected = head_revision()
    try:
        async with engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        if unavailability(exc) is not None:
            raise  # answered like any request meeting the database away: 503, its reason, Retry-After
        raise ServiceUnavailable(
            f"database not ready: {type(exc).__name__}",
            headers={"Retry-After": str(DATABASE_AWAY.retry_after)},
        ) from exc
    if current != expected:
        raise ServiceUnavailable(
            f"schema at {current}, expected {expected}; run `helpdesk migrate`",
            headers={"Retry-After": str(SCHEMA_RETRY_AFTER_SECONDS)},
        )
    return Readiness(status="ready", database="ok", schema_revision=current, expected_revision=expected)


@get(
    "/metrics",
    operation_id="getMetrics",
    opt=PUBLIC_OPT,
    tags=["Operations"],
    media_type="text/plain; version=0.0.4; charset=utf-8",
)
async def metrics() -> bytes:
    """Prometheus metrics: request counts and latency histograms per route and status.

    Prometheus text exposition format, summed across `--workers` processes: `helpdesk_http_requests_total`
    and `helpdesk_http_request_duration_seconds` by method, route template and status. Needs no API key.
    """
    return render_metrics()


ROUTES = [healthz, readyz, metrics]
