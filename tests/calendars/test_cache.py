"""The per-process schedule cache: memory at steady state, dropped on NOTIFY when a change commits."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
from sqlalchemy import text

from api.db import asyncpg_dsn
from tests.calendars.test_routes import NEW_YORK, URL, create
from tests.conftest import app_client, litestar_app


def _cache(client):
    return litestar_app(client).state.calendar_cache


async def _poll(predicate, what: str, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_a_change_in_one_process_reaches_the_cache_of_another(settings, database_url, admin_headers):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with app_client(settings) as writer:
            calendar = await create(writer, admin_headers)
        calendar_id = uuid.UUID(calendar["id"])
        # The reader starts listening after the creation committed, so no notification of it is on its way.
        async with app_client(settings) as writer, app_client(settings) as reader:
            cache = _cache(reader)
            first = await cache.get(conn, calendar_id)
            assert first is not None
            assert (first.version, first.schedule.time_zone) == (1, "America/New_York")
            for _ in range(5):
                assert await cache.get(conn, calendar_id) is first
            assert cache.loads_from_db == 1

            r = await writer.patch(
                f"{URL}/{calendar_id}", json={"time_zone": "Europe/Berlin"}, headers=admin_headers
            )
            assert r.status_code == 200, r.text

            async def reloaded() -> bool:
                loaded = await cache.get(conn, calendar_id)
                return loaded is not None and loaded.version == 2

            await _poll(reloaded, "the cache kept version 1 after the change committed")
            current = await cache.get(conn, calendar_id)
            assert current is not None
            assert current.schedule.time_zone == "Europe/Berlin"
            # A past version is still there, and never changes.
            old = await cache.get(conn, calendar_id, version=1)
            assert old is not None
            assert old.schedule == first.schedule
            loads = cache.loads_from_db
            assert await cache.get(conn, calendar_id, version=1) == old
            assert cache.loads_from_db == loads

            r = await writer.delete(f"{URL}/{calendar_id}", headers=admin_headers)
            assert r.status_code == 204

            async def gone() -> bool:
                return await cache.get(conn, calendar_id) is None

            await _poll(gone, "the cache kept a deleted calendar")
            assert await cache.get(conn, uuid.uuid4()) is None
    finally:
        await conn.close()


async def _settle(client, admin_headers, cache, conn, scratch: uuid.UUID) -> None:
    """Change a scratch calendar and wait until the cache has heard of it: notifications arrive in commit
    order, so every earlier one has been handled too."""
    r = await client.patch(f"{URL}/{scratch}", json={"name": uuid.uuid4().hex}, headers=admin_headers)
    assert r.status_code == 200, r.text
    version = r.json()["version"]

    async def heard() -> bool:
        loaded = await cache.get(conn, scratch)
        return loaded is not None and loaded.version == version

    await _poll(heard, "a committed change was not heard")


async def test_a_rolled_back_change_keeps_the_cached_schedule(client, admin_headers, database_url):
    """The NOTIFY goes out with the change's transaction: a change that fails sends nothing."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        calendar_id = uuid.UUID((await create(client, admin_headers))["id"])
        scratch = uuid.UUID((await create(client, admin_headers, {**NEW_YORK, "name": "scratch"}))["id"])
        cache = _cache(client)
        await _settle(client, admin_headers, cache, conn, scratch)
        assert await cache.get(conn, calendar_id) is not None
        r = await client.patch(
            f"{URL}/{calendar_id}", json={"time_zone": "Nowhere/Nothing"}, headers=admin_headers
        )
        assert r.status_code == 422
        await _settle(client, admin_headers, cache, conn, scratch)
        loads = cache.loads_from_db
        assert (await cache.get(conn, calendar_id)).version == 1  # type: ignore[union-attr]
        assert cache.loads_from_db == loads
    finally:
        await conn.close()


async def test_lost_listener_means_loading_uncached(client, admin_headers, engine, database_url):
    """A change the cache could not hear about (listener down) must not keep an old schedule in use."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        calendar_id = uuid.UUID((await create(client, admin_headers))["id"])
        scratch = uuid.UUID((await create(client, admin_headers, {**NEW_YORK, "name": "scratch"}))["id"])
        cache = _cache(client)
        await _settle(client, admin_headers, cache, conn, scratch)
        assert (await cache.get(conn, calendar_id)).version == 1  # type: ignore[union-attr]
        async with engine.begin() as sa_conn:  # behind the API's back: no NOTIFY
            await sa_conn.execute(
                text("UPDATE business_calendars SET version = 5 WHERE id = :id"), {"id": str(calendar_id)}
            )
        assert (await cache.get(conn, calendar_id)).version == 1  # type: ignore[union-attr]
        async with engine.begin() as sa_conn:
            killed = await sa_conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'helpdesk-listen' AND datname = current_database()"
                )
            )
        assert killed >= 1

        async def fresh() -> bool:
            return (await cache.get(conn, calendar_id)).version == 5  # type: ignore[union-attr]

        await _poll(fresh, "a cached schedule survived the loss of the listener")
    finally:
        await conn.close()
