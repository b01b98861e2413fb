"""The reference for issue 19: the smallest webhook delivery loop that does the job on a happy day.

It claims due deliveries with ``FOR UPDATE SKIP LOCKED`` (the open transaction's row locks are its only
lease), signs them the Standard Webhooks way, POSTs them with aiohttp (the worker's client), marks them
delivered and commits. What it skips, and ``helpdesk worker`` must not: the SSRF check at the connected
socket, per-endpoint concurrency caps, retries and backoff, attempt logs, endpoint health, auto-disable,
a lease that survives a slow endpoint without holding a transaction open.

    DATABASE_URL=... python bench/delivery_loop.py   # prints "ready", runs until SIGTERM

``CLIENT=pyreqwest`` or ``CLIENT=curl_cffi`` (pip install them) runs the same loop with that client
instead of aiohttp, to measure what a faster client would give (bench/worker_vs_loop.py --clients).
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import signal
import time
from typing import Any

import aiohttp
import asyncpg
import uvloop

CLIENT = os.environ.get("CLIENT", "aiohttp")
CLAIMERS, BATCH = 4, 50  # up to 200 in flight, like the worker's 16 per endpoint x 10 endpoints
CLAIM = """
SELECT d.id, d.message_id, m.body, e.url, e.secret
FROM webhook_deliveries d
JOIN webhook_messages m ON m.id = d.message_id JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled
LIMIT $1 FOR UPDATE OF d SKIP LOCKED
"""
DONE = """UPDATE webhook_deliveries SET status = 'succeeded', attempt_count = attempt_count + 1,
          delivered_at = now(), updated_at = now() WHERE id = ANY($1::bigint[])"""


async def post(http: Any, row: asyncpg.Record) -> None:
    stamp = str(int(time.time()))
    key = base64.b64decode(row["secret"].removeprefix("whsec_"))
    signed = b"%s.%s.%s" % (row["message_id"].encode(), stamp.encode(), row["body"])
    signature = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers = {
        "content-type": "application/json",
        "webhook-id": row["message_id"],
        "webhook-timestamp": stamp,
        "webhook-signature": signature,
    }
    if CLIENT == "pyreqwest":
        response = await http.post(row["url"]).headers(headers).body_bytes(row["body"]).build().send()
        await response.bytes()
    elif CLIENT == "curl_cffi":
        await http.post(row["url"], data=row["body"], headers=headers, allow_redirects=False)
    else:
        async with http.post(row["url"], data=row["body"], headers=headers, allow_redirects=False) as resp:
            await resp.read()


def client() -> Any:
    if CLIENT == "pyreqwest":
        from pyreqwest.client import ClientBuilder

        return ClientBuilder().max_connections(160).follow_redirects(False).build()
    if CLIENT == "curl_cffi":
        from curl_cffi import AsyncSession

        return AsyncSession(max_clients=160)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=160, limit_per_host=0))


async def claimer(pool: asyncpg.Pool, http: Any, wake: asyncio.Event) -> None:
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, BATCH)
            await asyncio.gather(*(post(http, row) for row in rows))
            await conn.execute(DONE, [row["id"] for row in rows])
        if not rows:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 1.0)


async def main() -> None:
    dsn = os.environ["DATABASE_URL"].replace("postgresql+asyncpg:", "postgresql:")
    settings = {"application_name": "bench-loop", "jit": "off"}
    pool = await asyncpg.create_pool(dsn, min_size=CLAIMERS, max_size=CLAIMERS, server_settings=settings)
    listener = await asyncpg.connect(dsn, server_settings=settings)
    wake = asyncio.Event()
    await listener.add_listener("helpdesk_webhooks", lambda *_: wake.set())
    http = client()
    tasks = [asyncio.create_task(claimer(pool, http, wake)) for _ in range(CLAIMERS)]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    closing = http.close()
    if closing is not None:
        await closing
    await listener.close()
    await pool.close()


if __name__ == "__main__":
    uvloop.run(main())
