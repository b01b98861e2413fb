"""Webhook test fixtures: settings that allow loopback receivers, and a running delivery worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.db import asyncpg_dsn
from api.listener import Listener
from api.runner import Job, Runner
from api.settings import Settings
from api.webhooks.worker import DeliveryJob

LOOPBACK_SETTINGS = {
    "webhook_allow_cidrs": "127.0.0.0/8",
    "webhook_allow_http": True,
    "webhook_connect_timeout_seconds": 1.0,
    "webhook_timeout_seconds": 1.5,
    "webhook_lease_seconds": 3.0,
    "webhook_poll_seconds": 0.2,
}


@pytest.fixture(scope="session")
def wh_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, **LOOPBACK_SETTINGS)


@pytest.fixture
async def wh_client(wh_settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(create_app(wh_settings)) as client:
        yield client


@pytest.fixture
async def worker(engine: AsyncEngine, wh_settings: Settings) -> AsyncIterator[DeliveryJob]:
    """A delivery job in a real runner (LISTEN/NOTIFY wake-ups) inside the test's event loop."""
    job = DeliveryJob(engine, wh_settings)
    async with running(wh_settings, [job]):
        yield job


@asynccontextmanager
async def running(settings: Settings, jobs: Sequence[Job]) -> AsyncIterator[Runner]:
    """A runner of ``jobs`` with its own listener, as a worker process has, stopped on exit."""
    listener = Listener(asyncpg_dsn(settings.database_url or ""))
    runner = Runner(listener, jobs)
    await listener.start()
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
        await listener.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds, failing after ``within`` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
