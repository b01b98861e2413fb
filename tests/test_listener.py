"""The process's one LISTEN connection: never leaked, never losing a notification that lands mid-load."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid

import asyncpg
import msgspec

from api.db import asyncpg_dsn
from api.listener import Listener
from tests.conftest import app_client


async def _backends(conn: asyncpg.Connection, application_name: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application_name
    )
    return count


async def _until(check, what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_stop_at_any_point_of_connecting_leaves_no_connection(database_url):
    """A stop() that lands while the connection is being made or set up (a test's app shutting down on a
    busy machine) closes it at once: nothing is left for the garbage collector to report as unclosed."""
    name = f"listen-test-{uuid.uuid4().hex[:8]}"
    observer = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for steps in range(0, 120, 3):  # cancel after 0, 3, 6, … turns of the event loop
            listener = Listener(asyncpg_dsn(database_url), application_name=name)
            for channel in range(10):  # one round trip each: many places to be cancelled at
                listener.subscribe(f"test_channel_{channel}")
            starting = asyncio.create_task(listener.start())
            for _ in range(steps):
                await asyncio.sleep(0)
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await listener.stop()
            assert not listener.listening
            gc.collect()  # an abandoned connection would warn here (warnings are errors)

            async def gone() -> bool:
                return await _backends(observer, name) == 0

            await _until(gone, f"no connection left after a stop {steps} turns into starting")
    finally:
        await observer.close()


async def test_a_notification_during_a_load_means_the_load_is_not_kept(database_url):
    listener = Listener(asyncpg_dsn(database_url))
    heard: list[str] = []
    subscription = listener.subscribe("test_changed", on_notify=heard.append)
    other = listener.subscribe("test_other")
    await listener.start()
    notifier = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        assert listener.listening
        generation = subscription.generation
        other_generation = other.generation
        assert subscription.unchanged_since(generation)
        await notifier.execute("NOTIFY test_changed, 'x'")

        async def heard_it() -> bool:
            return heard == ["x"]

        await _until(heard_it, "the notification")
        assert not subscription.unchanged_since(generation)
        assert other.unchanged_since(other_generation)  # another channel's loads are unaffected
    finally:
        await notifier.close()
        await listener.stop()
    assert not subscription.unchanged_since(subscription.generation)  # stopped: nothing may be kept


async def test_a_lost_connection_resets_subscribers_and_comes_back(database_url):
    name = f"listen-test-{uuid.uuid4().hex[:8]}"
    listener = Listener(asyncpg_dsn(database_url), application_name=name)
    resets: list[int] = []
    subscription = listener.subscribe("test_changed", on_reset=lambda: resets.append(1))
    await listener.start()
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        assert listener.listening
        generation = subscription.generation
        before = len(resets)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", name
        )

        async def back() -> bool:
            return listener.listening and len(resets) >= before + 2  # lost, then made again

        await _until(back, "the listener to reconnect")
        assert not subscription.unchanged_since(generation)
        assert await _backends(admin, name) == 1
    finally:
        await admin.close()
        await listener.stop()


async def test_an_api_process_holds_one_listening_connection(settings, database_url):
    """The key cache, calendar cache, SLA cache and runner share one connection."""
    with_runner = msgspec.structs.replace(settings, run_worker=True)
    observer = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with app_client(with_runner):

            async def one() -> bool:
                return await _backends(observer, "helpdesk-listen") == 1

            await _until(one, "one listening connection")
            count = await observer.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name LIKE 'helpdesk-%listen%' OR application_name = 'helpdesk-runner'"
            )
            assert count == 1
    finally:
        await observer.close()
