"""Real ``helpdesk worker`` processes: SIGKILL mid-delivery loses nothing; two workers never double-send."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.webhooks.conftest import eventually
from tests.webhooks.helpers import create_endpoint, publish_committed, resolved_event, scalar
from tests.webhooks.receiver import Received, Receiver, Reply

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3.0


def _worker_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "HELPDESK_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",
        "HELPDESK_WEBHOOK_ALLOW_HTTP": "true",
        "HELPDESK_WEBHOOK_TIMEOUT_SECONDS": "2",
        "HELPDESK_WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
        "HELPDESK_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
        "HELPDESK_WEBHOOK_POLL_SECONDS": "0.2",
        "HELPDESK_LOG_LEVEL": "WARNING",
    }


@contextmanager
def helpdesk_worker(database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    script = Path(sys.executable).with_name("helpdesk")
    process = subprocess.Popen(
        [str(script), "worker"],
        env=_worker_env(database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def listening_workers(engine) -> int:
    return await scalar(
        engine,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'helpdesk-worker' "
        "AND datname = current_database()",
    )


async def wait_until_listening(engine, count: int) -> None:
    async def ready():
        return await listening_workers(engine) >= count

    await eventually(ready, within=30, what=f"{count} workers listening")


async def test_sigkilled_worker_loses_nothing(wh_client, admin_headers, engine, database_url):
    first_seen = asyncio.Event()

    def behaviour(_request: Received) -> Reply:
        if not first_seen.is_set():
            first_seen.set()
            return Reply(hang=True)  # the first worker is mid-delivery when it dies
        return Reply()

    async with Receiver(behaviour) as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        with helpdesk_worker(database_url) as doomed:
            await publish_committed(engine, event)
            await receiver.wait_for(1, within=20)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            assert doomed.returncode == -signal.SIGKILL
        killed_at = receiver.requests[0].at
        assert await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 0
        assert await scalar(engine, "SELECT status FROM webhook_deliveries") == "pending"

        with helpdesk_worker(database_url):
            first, second = await receiver.wait_for(2, within=20)

            async def succeeded():
                return await scalar(engine, "SELECT status FROM webhook_deliveries") == "succeeded"

            await eventually(succeeded, within=10)
        # Retried only once the dead worker's lease ran out, with the same id and bytes.
        assert second.at - killed_at >= LEASE_SECONDS - 0.5
        assert second.headers["webhook-id"] == first.headers["webhook-id"] == event.id
        assert second.body == first.body
        assert await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 1


async def test_two_workers_never_deliver_an_attempt_twice(wh_client, admin_headers, engine, database_url):
    async def slow_ok(_request: Received) -> Reply:
        await asyncio.sleep(0.002)  # keep both workers busy at once
        return Reply()

    receivers = [Receiver(slow_ok) for _ in range(3)]
    for receiver in receivers:
        await receiver.__aenter__()
    try:
        for receiver in receivers:
            await create_endpoint(wh_client, admin_headers, url=receiver.url)
        events = 300
        with helpdesk_worker(database_url), helpdesk_worker(database_url):
            await wait_until_listening(engine, 2)  # so that both can take part from the first event
            for start in range(0, events, 50):
                await publish_committed(engine, *(resolved_event(i) for i in range(start, start + 50)))
            for receiver in receivers:
                await receiver.wait_for(events, within=60)

            async def all_succeeded():
                done = await scalar(
                    engine, "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
                )
                return done == events * len(receivers)

            await eventually(all_succeeded, within=30)
        for receiver in receivers:
            ids = Counter(request.headers["webhook-id"] for request in receiver.requests)
            assert len(ids) == events
            assert max(ids.values()) == 1, "a delivery was sent twice"
        assert await scalar(engine, "SELECT count(*) FROM webhook_attempts") == events * len(receivers)
        assert await scalar(engine, "SELECT max(attempt_count) FROM webhook_deliveries") == 1
        # Both workers took part (each attempt names its worker process).
        assert await scalar(engine, "SELECT count(DISTINCT worker) FROM webhook_attempts") == 2
    finally:
        for receiver in receivers:
            await receiver.__aexit__(None, None, None)
