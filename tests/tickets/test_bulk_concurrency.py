"""Bulk updates queue for their turn instead of taking every database connection (a real server).

Concurrency needs a real server: the in-process test client sends one request at a time.
"""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest

from api.cli import _create_key
from tests.conftest import embedded_data_dir
from tests.test_cli import Serve


@pytest.mark.slow
async def test_concurrent_bulk_updates_queue_instead_of_starving_other_requests(database_url):
    # A small pool, quick to give up: forty bulk updates of the same tickets, each waiting for the
    # previous one's row locks, used to hold every connection while they waited; reads then got 503.
    token = await _create_key(database_url, "bulk concurrency test", "agent")
    serve = Serve(
        embedded_data_dir(),
        DATABASE_URL=database_url,
        HELPDESK_RUN_WORKER="false",
        HELPDESK_DB_POOL_SIZE="4",
        HELPDESK_DB_MAX_OVERFLOW="0",
        HELPDESK_DB_POOL_TIMEOUT_SECONDS="1",
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        await asyncio.to_thread(serve.wait_ready)
        async with httpx.AsyncClient(base_url=serve.base, headers=headers, timeout=120) as client:
            ids = []
            for _ in range(20):
                body = {
                    "subject": "Printer on fire",
                    "message": "It is.",
                    "requester_email": "ada@example.com",
                }
                r = await client.post("/v1/tickets", json=body)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            priorities = itertools.cycle(["low", "normal", "high", "urgent"])

            async def bulk() -> int:
                body = {"ids": ids, "changes": {"priority": next(priorities), "add_tags": ["bulk"]}}
                return (await client.post("/v1/tickets/bulk-update", json=body)).status_code

            async def reads(done: asyncio.Event) -> list[int]:
                statuses = []
                while not done.is_set():
                    statuses.append((await client.get(f"/v1/tickets/{ids[0]}")).status_code)
                return statuses

            done = asyncio.Event()
            reader = asyncio.create_task(reads(done))
            try:
                bulks = await asyncio.gather(*(bulk() for _ in range(40)))
            finally:
                done.set()
                read_statuses = await reader
    finally:
        serve.stop()
    assert bulks == [200] * 40
    assert read_statuses
    assert set(read_statuses) == {200}, sorted(set(read_statuses))
