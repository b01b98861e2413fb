"""The delivery job: claims due deliveries under a lease, sends them concurrently, records results.

Flow: a NOTIFY (or the fallback poll) wakes the job; one query claims due deliveries with
``FOR UPDATE SKIP LOCKED`` — per endpoint at most its free concurrency slots, so a dead endpoint's backlog
never fills a batch — and moves their ``next_attempt_at`` to the end of the lease. Each claimed delivery
is sent in its own task; results are written in batches by a single recorder task. A worker that dies
mid-delivery simply lets the lease run out: the rows fall due again and another worker retries them.
Several workers never send the same attempt twice: a row is claimed by one transaction only, the lease
outlasts the attempt's total timeout, and only the lease holder may record the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import asyncpg
import prometheus_client
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import asyncpg_dsn, session_settings, statement_cache_args
from api.settings import Settings
from api.webhooks.publish import CHANNEL
from api.webhooks.recorder import log_and_move, record, touches_endpoints
from api.webhooks.sender import AttemptResult, Claim, Sender
from api.webhooks.ssrf import SsrfPolicy, parse_cidrs

log = logging.getLogger("api.webhooks.worker")

ATTEMPTS = prometheus_client.Counter(
    "helpdesk_webhook_attempts_total", "Webhook delivery attempts by outcome.", ("outcome",)
)
ATTEMPT_SECONDS = prometheus_client.Histogram(
    "helpdesk_webhook_attempt_seconds",
    "Duration of webhook delivery attempts.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
# One child per outcome, bound once: ``labels()`` on every attempt costs a lock and a lookup.
_OUTCOMES = {
    error_class: ATTEMPTS.labels(error_class or "success")
    for error_class in (None, "http_status", "timeout", "connection", "ssrf_refused", "invalid_url")
}

RECORD_BATCH = 500
RECORD_LINGER_SECONDS = 0.02
SHUTDOWN_GRACE_SECONDS = 5.0

# Plain asyncpg (a prepared statement per connection): the claim is on every delivery's latency path.
# One statement, so it needs no explicit transaction: its row locks last exactly as long as it runs.
_CLAIM = """
WITH candidates AS (
    SELECT d.id, d.endpoint_id, d.next_attempt_at
    FROM webhook_endpoints e
    LEFT JOIN unnest($2::uuid[], $3::int[]) AS s(endpoint_id, free) ON s.endpoint_id = e.id
    -- At most the endpoint's free slots: a row locked here but not picked would be written for nothing.
    CROSS JOIN LATERAL (
        SELECT id, endpoint_id, next_attempt_at FROM webhook_deliveries d
        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
        ORDER BY d.next_attempt_at
        LIMIT coalesce(s.free, $1::int)
        FOR UPDATE SKIP LOCKED
    ) d
    WHERE e.enabled AND coalesce(s.free, $1::int) > 0
), picked AS (
    SELECT id FROM candidates ORDER BY next_attempt_at LIMIT $4::int
)
UPDATE webhook_deliveries d
SET next_attempt_at = now() + make_interval(secs => $5::float8),
    locked_until = now() + make_interval(secs => $5::float8),
    lease_token = $6::uuid, updated_at = now()
FROM webhook_messages m, webhook_endpoints e
-- ANY(ARRAY(...)) makes the planner fetch the picked rows by primary key, never by scanning the table.
WHERE d.id = ANY(ARRAY(SELECT id FROM picked)) AND m.id = d.message_id AND e.id = d.endpoint_id
RETURNING d.id, d.endpoint_id, d.message_id, d.attempt_count, d.retry_count, m.body, e.url, e.headers,
          e.secret, CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous,
          e.updated_at, e.failing_since IS NOT NULL AS failing
"""


def policy_from(settings: Settings) -> SsrfPolicy:
    return SsrfPolicy(parse_cidrs(settings.webhook_allow_cidrs), settings.webhook_allow_http)


class DeliveryJob:
    """The runner job for webhook delivery (see the module docstring)."""

    name = "webhooks"
    channels: Sequence[str] = (CHANNEL,)

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self.poll_interval = settings.webhook_poll_seconds
        self._cap = settings.webhook_endpoint_concurrency
        self._max = settings.webhook_max_in_flight
        self._disable_after = settings.webhook_disable_after_seconds
        self._sender = Sender(
            policy_from(settings),
            connect_timeout=settings.webhook_connect_timeout_seconds,
            timeout=settings.webhook_timeout_seconds,
            per_endpoint=self._cap,
        )
        self._in_flight: set[asyncio.Task[None]] = set()
        self._per_endpoint: Counter[uuid.UUID] = Counter()
        self._backlogged: set[uuid.UUID] = set()
        self._globally_full = False
        self._results: list[AttemptResult] = []
        self._results_ready = asyncio.Event()
        self._recorder: asyncio.Task[None] | None = None
        self._wake: Callable[[], None] = lambda: None
        self._dsn = asyncpg_dsn(settings.database_url or "")
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._parsed_headers: dict[str, dict[str, str]] = {}
        self.sent = 0

    def bind_wake(self, wake: Callable[[], None]) -> None:
        """The runner's way to run this job again: used when a full endpoint frees a slot."""
        self._wake = wake

    async def run_once(self) -> bool:
        if self._recorder is None:
            self._recorder = asyncio.create_task(self._record_forever(), name="webhook-recorder")
        free_total = self._max - len(self._in_flight)
        if free_total <= 0:
            return False
        asked = {eid: self._cap - n for eid, n in self._per_endpoint.items()}
        claims = await self._claim(free_total, asked)
        for claim in claims:
            self._start(claim)
        counts = Counter(claim.endpoint_id for claim in claims)
        # An endpoint that got every slot it asked for (or had none free) may have more due: claim again
        # as soon as one of its slots frees. Others have nothing due now; a NOTIFY says when they do.
        self._backlogged |= {eid for eid, free in asked.items() if counts[eid] >= free}
        self._backlogged |= {eid for eid, n in counts.items() if n >= asked.get(eid, self._cap)}
        self._globally_full = len(claims) >= free_total
        return False

    async def _claim(self, free_total: int, asked: dict[uuid.UUID, int]) -> list[Claim]:
        token = uuid.uuid4()
        pool = await self._db()
        rows = await pool.fetch(
            _CLAIM,
            self._cap,
            list(asked),
            list(asked.values()),
            free_total,
            self._settings.webhook_lease_seconds,
            token,
        )
        return [
            Claim(
                delivery_id=row["id"],
                endpoint_id=row["endpoint_id"],
                message_id=row["message_id"],
                attempt_count=row["attempt_count"],
                retry_count=row["retry_count"],
                body=row["body"],
                url=row["url"],
                headers=self._headers(row["headers"]),
                secrets=(row["secret"],) if row["previous"] is None else (row["secret"], row["previous"]),
                endpoint_version=row["updated_at"],
                endpoint_failing=row["failing"],
                lease_token=token,
            )
            for row in rows
        ]

    def _headers(self, raw: str) -> dict[str, str]:
        headers = self._parsed_headers.get(raw)
        if headers is None:
            if len(self._parsed_headers) > 10_000:
                self._parsed_headers.clear()
            headers = self._parsed_headers[raw] = json.loads(raw)
        return headers

    async def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=2,
                server_settings=session_settings(self._settings, "helpdesk-webhooks", jit="off"),
                **statement_cache_args(self._settings),
            )
        return self._pool

    def _start(self, claim: Claim) -> None:
        self._per_endpoint[claim.endpoint_id] += 1
        task = asyncio.create_task(self._deliver(claim))
        self._in_flight.add(task)
        task.add_done_callback(functools.partial(self._finished, endpoint_id=claim.endpoint_id))

    async def _deliver(self, claim: Claim) -> None:
        result = await self._sender.send(claim)
        if not result.succeeded:
            _log_failure(result)
        (_OUTCOMES.get(result.error_class) or ATTEMPTS.labels(result.error_class)).inc()
        ATTEMPT_SECONDS.observe(result.duration_ms / 1000)
        self._results.append(result)
        self.sent += 1
        self._results_ready.set()

    def _finished(self, task: asyncio.Task[None], endpoint_id: uuid.UUID) -> None:
        self._in_flight.discard(task)
        self._per_endpoint[endpoint_id] -= 1
        if self._per_endpoint[endpoint_id] <= 0:
            del self._per_endpoint[endpoint_id]
        # Claim again once a quarter of the endpoint's slots are free, not at every freed slot: fewer,
        # larger claims (one statement each) and recording batches, the pipeline still full.
        if endpoint_id in self._backlogged and self._per_endpoint[endpoint_id] <= self._cap * 3 // 4:
            self._backlogged.discard(endpoint_id)
            self._wake()
        elif self._globally_full:
            self._globally_full = False
            self._wake()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())

    async def _record_forever(self) -> None:
        while True:
            await self._results_ready.wait()
            if len(self._results) < RECORD_BATCH:
                # Results are already delivered; waiting a moment turns many small writes into one.
                await asyncio.sleep(RECORD_LINGER_SECONDS)
            self._results_ready.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._results:
            batch, self._results = self._results[:RECORD_BATCH], self._results[RECORD_BATCH:]
            if await self._record(batch) or len(batch) == 1:
                continue
            # One bad row must not cost the whole batch (its deliveries would all be sent again).
            for result in batch:
                await self._record([result])

    async def _record(self, batch: list[AttemptResult]) -> bool:
        try:
            if touches_endpoints(batch):
                async with self._engine.begin() as conn:
                    await record(conn, batch, disable_after_seconds=self._disable_after)
            else:
                # The common case, all delivered to healthy endpoints: one statement, its own transaction,
                # on the job's asyncpg pool (SQLAlchemy's transaction around it cost more than the work).
                await log_and_move(await self._db(), batch)
        except Exception:
            # Unrecorded deliveries are retried when their lease runs out: at-least-once, never lost.
            log.exception("recording webhook attempts failed", extra={"count": len(batch)})
            return False
        return True

    async def close(self) -> None:
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
        for task in list(self._in_flight):
            task.cancel()
        if self._recorder is not None:
            self._recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recorder
        await self._flush()
        await self._sender.close()
        if self._pool is not None:
            await self._pool.close()


def _log_failure(result: AttemptResult) -> None:
    """One line per failed attempt, so an operator sees why a receiver gets nothing without querying
    the attempt log. Only the URL's origin: paths and queries often carry the receiver's secret."""
    parts = urlsplit(result.claim.url)
    log.warning(
        "webhook delivery failed",
        extra={
            "endpoint_id": str(result.claim.endpoint_id),
            "endpoint_origin": f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
            "delivery_id": result.claim.delivery_id,
            "message_id": str(result.claim.message_id),
            "attempt": result.claim.attempt_count + 1,
            "status_code": result.status_code,
            "reason": result.error_class,
            "error": result.error,
        },
    )
