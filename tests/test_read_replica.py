"""Reads from a real streaming replica (``HELPDESK_READ_DATABASE_URL``), with read-your-writes.

A private primary and a hot standby made with ``pg_basebackup -R`` run for this module. Pausing the
standby's replay makes the lag visible: a list without a token comes from the replica and misses a new
ticket; with the write's ``X-Consistency-Token`` it sees it. A stopped replica costs no errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.db import sqlalchemy_url
from api.embedded import ensure_database
from api.migrations import upgrade
from api.replica import ReadRouter, parse_lsn
from api.settings import Settings, load_settings
from tests.conftest import app_client, litestar_app, make_key
from tests.servers import PG_BIN, ReplicatedCluster
from tests.tickets.helpers import create_ticket
from tests.webhooks.conftest import eventually

pytestmark = pytest.mark.skipif(not (PG_BIN / "pg_basebackup").exists(), reason=f"no PostgreSQL in {PG_BIN}")

TOKEN = "X-Consistency-Token"


@pytest.fixture(scope="module")
def cluster() -> Iterator[ReplicatedCluster]:
    cluster = ReplicatedCluster()
    try:
        cluster.start()
        primary = cluster.url(cluster.primary_port, "helpdesk")
        asyncio.run(ensure_database(cluster.url(cluster.primary_port), "helpdesk"))
        upgrade(primary)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def replica_settings(cluster: ReplicatedCluster) -> Settings:
    return msgspec.structs.replace(
        load_settings({}),
        database_url=cluster.url(cluster.primary_port, "helpdesk"),
        read_database_url=cluster.url(cluster.standby_port, "helpdesk"),
        run_worker=False,
    )


@pytest.fixture
async def primary_engine(replica_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlalchemy_url(replica_settings.database_url or ""))
    yield engine
    await engine.dispose()


async def _standby(cluster: ReplicatedCluster, sql: str) -> Any:
    conn = await asyncpg.connect(cluster.url(cluster.standby_port, "helpdesk"))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _replayed_past(cluster: ReplicatedCluster, token: str) -> bool:
    replayed = parse_lsn(await _standby(cluster, "SELECT pg_last_wal_replay_lsn()::text"))
    wanted = parse_lsn(token)
    return replayed is not None and wanted is not None and replayed >= wanted


def _router(client: Any) -> ReadRouter:
    router: ReadRouter = litestar_app(client).state.read_router
    return router


async def _list_ids(client: Any, headers: dict[str, str], token: str | None = None) -> set[int]:
    extra = {TOKEN: token} if token else {}
    r = await client.get("/v1/tickets", params={"limit": 200}, headers={**headers, **extra})
    assert r.status_code == 200, r.text
    return {t["id"] for t in r.json()["data"]}


async def test_lists_come_from_the_replica_and_tokens_read_your_writes(
    cluster, replica_settings, primary_engine
):
    headers = {"Authorization": f"Bearer {await make_key(primary_engine, 'admin')}"}
    async with app_client(replica_settings) as client:
        router = _router(client)
        r = await client.post(
            "/v1/tickets",
            json={"subject": "replicated", "message": "m", "requester_email": "ada@example.com"},
            headers=headers,
        )
        assert r.status_code == 201
        first, first_token = r.json()["id"], r.headers[TOKEN]
        await eventually(lambda: _replayed_past(cluster, first_token), what="the standby to replay the write")

        await _standby(cluster, "SELECT pg_wal_replay_pause()")
        try:
            await eventually(
                lambda: _standby(cluster, "SELECT pg_get_wal_replay_pause_state() = 'paused'"),
                what="paused replay",
            )
            second = await client.post(
                "/v1/tickets",
                json={"subject": "not replayed yet", "message": "m", "requester_email": "ada@example.com"},
                headers=headers,
            )
            second_id, second_token = second.json()["id"], second.headers[TOKEN]

            replica_reads = router.replica_reads
            stale = await _list_ids(client, headers)
            assert first in stale
            assert second_id not in stale
            assert router.replica_reads == replica_reads + 1

            fresh = await _list_ids(client, headers, second_token)
            assert {first, second_id} <= fresh  # the replica is behind the token: read from the primary
            assert router.replica_reads == replica_reads + 1

            history = await client.get(
                f"/v1/tickets/{second_id}/events", headers={**headers, TOKEN: second_token}
            )
            assert history.status_code == 200, history.text
            assert history.json()["data"]
            feed = await client.get(
                "/v1/events", params={"limit": 200}, headers={**headers, TOKEN: second_token}
            )
            assert second_id in {e["ticket_id"] for e in feed.json()["data"]}
            # A single ticket is read from the primary: right after the write, without a token.
            assert (await client.get(f"/v1/tickets/{second_id}", headers=headers)).status_code == 200
        finally:
            await _standby(cluster, "SELECT pg_wal_replay_resume()")

        await eventually(lambda: _replayed_past(cluster, second_token), what="replay to resume")
        before = router.replica_reads
        assert {first, second_id} <= await _list_ids(client, headers, second_token)
        assert router.replica_reads == before + 1  # caught up: the token is satisfied by the replica


async def test_a_replica_too_far_behind_is_not_read(cluster, replica_settings, primary_engine):
    """Without a token, a read may lag, but only by ``HELPDESK_READ_MAX_LAG_SECONDS``."""
    settings = msgspec.structs.replace(replica_settings, read_max_lag_seconds=1.0)
    headers = {"Authorization": f"Bearer {await make_key(primary_engine, 'admin')}"}
    async with app_client(settings) as client:
        await _standby(cluster, "SELECT pg_wal_replay_pause()")
        try:
            ticket = await create_ticket(client, headers, subject="lagging")

            async def seen_without_token() -> bool:
                return ticket["id"] in await _list_ids(client, headers)

            await eventually(seen_without_token, within=10, what="the lagging replica to be passed over")
        finally:
            await _standby(cluster, "SELECT pg_wal_replay_resume()")


async def test_a_stopped_replica_falls_back_to_the_primary(cluster, replica_settings, primary_engine):
    headers = {"Authorization": f"Bearer {await make_key(primary_engine, 'admin')}"}
    async with app_client(replica_settings) as client:
        router = _router(client)
        ticket = await create_ticket(client, headers, subject="while the replica is down")
        cluster.stop_standby()
        try:
            for _ in range(3):
                assert ticket["id"] in await _list_ids(client, headers)
                feed = await client.get("/v1/events", headers=headers)
                assert feed.status_code == 200, feed.text
                assert (await client.get("/v1/customers", headers=headers)).status_code == 200
        finally:
            cluster.start_standby()
        before = router.replica_reads

        async def replica_back() -> bool:
            await _list_ids(client, headers)
            return router.replica_reads > before

        await eventually(replica_back, within=15, what="reads to return to the restarted replica")


async def test_without_a_replica_writes_carry_no_token(client, admin_headers):
    ticket = await client.post(
        "/v1/tickets",
        json={"subject": "s", "message": "m", "requester_email": "ada@example.com"},
        headers=admin_headers,
    )
    assert ticket.status_code == 201
    assert TOKEN not in ticket.headers
    assert (
        await client.get("/v1/tickets", headers={**admin_headers, TOKEN: "not a token"})
    ).status_code == 200
