"""The database: one async engine per process, the declarative base, and the request's unit of work.

Every request that writes runs in exactly one transaction, opened by the ``tx`` dependency (or by
:func:`unit_of_work` directly) and committed in exactly one place (:func:`unit_of_work`), unless its
write is a single statement, which is its own transaction (see :func:`create_statement_pool`). The
commit happens *before* the response is sent, so a failed COMMIT becomes an error response — never a
2xx for work that was not stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from api.availability import create_statement_pool as create_pool
from api.availability import discard_closed_connections
from api.settings import Settings

# Stable constraint names, so Alembic autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _split_scheme(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a PostgreSQL URL, got scheme {parts.scheme!r}")
    return scheme, urlunsplit(("", *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """``postgres://…`` / ``postgresql://…`` → the asyncpg dialect URL SQLAlchemy needs."""
    _, rest = _split_scheme(url)
    return "postgresql+asyncpg:" + rest


def asyncpg_dsn(url: str) -> str:
    """The same URL as a plain DSN for a raw asyncpg connection (LISTEN, benchmarks)."""
    _, rest = _split_scheme(url)
    return "postgresql:" + rest


def listen_dsn(settings: Settings) -> str:
    """The DSN of ``LISTEN`` connections: straight to the primary, never through a transaction pooler,
    which would hand the listening session to other clients and deliver no notification."""
    return asyncpg_dsn(settings.session_database_url or "")


def behind_pgbouncer(settings: Settings) -> bool:
    return settings.db_pgbouncer == "transaction"


def session_settings(settings: Settings, application_name: str, **tuning: str) -> dict[str, str]:
    """Startup parameters for a pooled connection. Behind PgBouncer only ``application_name`` is sent:
    PgBouncer 1.18 refuses other startup parameters, and a server connection is shared by many clients,
    so per-session tuning (``jit`` …) is set on the role instead (``ALTER ROLE … SET``, docs/deploy.md)."""
    if behind_pgbouncer(settings):
        return {"application_name": application_name}
    return {"application_name": application_name, **tuning}


def statement_cache_args(settings: Settings) -> dict[str, Any]:
    """asyncpg connection arguments: behind PgBouncer in transaction mode, no statement cache, so every
    statement is unnamed and parsed in the same round trip as it runs (asyncpg sends Parse/Describe with
    Flush, not Sync, so PgBouncer keeps the server connection until the Bind/Execute/Sync that follows).
    A named statement would live on one server connection and be missing, or clash, on the next."""
    return {"statement_cache_size": 0} if behind_pgbouncer(settings) else {}


def create_engine(
    settings: Settings, url: str | None = None, application_name: str = "helpdesk-api"
) -> AsyncEngine:
    """The SQLAlchemy engine of ``url`` (default: ``DATABASE_URL``, the primary)."""
    url = url or settings.database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set (helpdesk serve sets it for the embedded server)")
    # The dialect prepares every statement through asyncpg's prepare(); with its cache off (and asyncpg's)
    # the statements are unnamed, which transaction pooling can carry.
    dialect_cache = {"prepared_statement_cache_size": 0} if behind_pgbouncer(settings) else {}
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # Waiting longer than this for a free connection is answered 503 (connections-exhausted).
        pool_timeout=settings.db_pool_timeout_seconds,
        # No ping per checkout (a round trip each): connections the server closed are dropped at checkout
        # by discard_closed_connections, and any other failure is a 503 the client retries.
        pool_pre_ping=False,
        # Statement parameters hold signing secrets, custom header credentials and customer data; an error's
        # text (and so the log line of a 500) must not carry them.
        hide_parameters=True,
        connect_args={
            "server_settings": session_settings(settings, application_name, jit="off"),
            "timeout": settings.db_connect_timeout_seconds,
            **statement_cache_args(settings),
            **dialect_cache,
        },
    )
    discard_closed_connections(engine)
    return engine


async def raw_connection(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy connection, for hot paths that skip the SQL layer."""
    fairy = await conn.get_raw_connection()
    driver: Any = fairy.driver_connection
    return driver


async def create_statement_pool(settings: Settings, url: str | None = None) -> asyncpg.Pool:
    """A plain asyncpg pool for work that is a single statement in autocommit: the hot ticket reads (GET
    ticket, lists) and ticket creation, which is one statement and so its own transaction.

    Such work needs no unit of work; skipping SQLAlchemy's connection checkout, transaction bookkeeping
    and greenlet switches (~150 us of CPU per request here) is what lets those routes approach raw
    asyncpg speed. Anything that takes more than one statement to write uses ``tx`` instead.
    """
    return await create_pool(
        asyncpg_dsn(url or settings.database_url or ""),
        acquire_timeout=settings.db_pool_timeout_seconds,
        timeout=settings.db_connect_timeout_seconds,
        min_size=0,  # lazily: the app must start, and /readyz answer 503, with the database down
        max_size=settings.db_pool_size,
        reset=_no_session_reset,
        server_settings=session_settings(
            settings,
            "helpdesk-api-statements",
            jit="off",
            # Parallel plans help one big query, not many small concurrent ones: they only add latency.
            max_parallel_workers_per_gather="0",
            # List pages are planned per request (custom plans, because filters differ in selectivity),
            # and searching join orders was ~0.5 ms of a ~1 ms page. The statements here are written in
            # the order to join them (page ids, ticket, requester, assignee, group), so the planner keeps
            # that order: planning drops by about a third.
            join_collapse_limit="1",
        ),
        **statement_cache_args(settings),
    )


async def _no_session_reset(_: asyncpg.Connection) -> None:
    """The statement pool only runs single statements and never changes session state (no SET, LISTEN or
    advisory locks), so the default reset (``RESET ALL; UNLISTEN *; …``) would be a wasted round trip on
    every release."""


def statement_pool(state: State) -> asyncpg.Pool:
    pool: asyncpg.Pool = state.statement_pool
    return pool


Transaction: TypeAlias = NamedDependency[AsyncConnection]
"""Annotate a handler parameter ``tx: Transaction`` to run in the request's transaction."""


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


@asynccontextmanager
async def unit_of_work(state: State, *, read_only: bool = False) -> AsyncIterator[AsyncConnection]:
    """One transaction that commits when the block ends and rolls back when it raises.

    The commit happens when the block is left, before the caller builds its response, so a COMMIT that
    fails raises there and is answered by the error handlers instead of a 2xx. Reads (``read_only``)
    run in autocommit: no BEGIN and COMMIT round trips, which are two thirds of the database time of a
    single-query read.
    """
    engine: AsyncEngine = state.engine
    async with engine.connect() as conn:
        if read_only:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        async with conn.begin():
            yield conn


async def provide_transaction(
    request: Request[Any, Any, Any], state: State
) -> AsyncGenerator[AsyncConnection, None]:
    """The request's unit of work (``tx``): Litestar runs this cleanup, and so the commit, before the
    response is sent. GET and HEAD write nothing and run in autocommit."""
    async with unit_of_work(state, read_only=request.method in READ_ONLY_METHODS) as conn:
        yield conn


async def raw_transaction(conn: AsyncConnection) -> asyncpg.Connection:
    """Like :func:`raw_connection`, but inside the request's transaction, for hot paths that write.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, on its first statement; statements sent straight to
    asyncpg before that would run in autocommit and escape the request's unit of work.
    """
    fairy = await conn.get_raw_connection()
    adapter: Any = fairy.dbapi_connection
    if adapter._transaction is None:
        await adapter._start_transaction()
    driver: Any = fairy.driver_connection
    return driver
