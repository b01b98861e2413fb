"""Recording attempt results in batches: attempt logs, delivery state, endpoint health and auto-disable.

One transaction per batch, a handful of statements whatever the batch size: at thousands of deliveries a
second the database sees tens of writes a second, not thousands.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Sequence

import asyncpg
import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.db import raw_transaction
from api.webhooks.catalog import EndpointDisabledData
from api.webhooks.publish import OutgoingEvent, publish
from api.webhooks.retry import next_delay
from api.webhooks.sender import AttemptResult

# One statement per batch: move each delivery on and log its attempt. Only the holder of the current lease
# may move a delivery on; a worker whose lease ran out (another worker has claimed the delivery since)
# still logs its attempt, but changes nothing else. Plain asyncpg, prepared once per connection.
_RECORD = """
WITH t AS (
    SELECT * FROM unnest(
        $1::bigint[], $2::uuid[], $3::uuid[], $4::int[], $5::timestamptz[], $6::float8[], $7::bool[],
        $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int[],
        $15::float8[]
    ) AS t(id, token, endpoint_id, number, started_at, duration_ms, ok, code, error_class, error, headers,
           body, status, retries, next_at)
), moved AS (
    UPDATE webhook_deliveries d
    SET status = t.status, attempt_count = d.attempt_count + 1, retry_count = t.retries,
        next_attempt_at = to_timestamp(t.next_at), locked_until = NULL, lease_token = NULL,
        last_status_code = t.code, last_error = t.error,
        delivered_at = CASE WHEN t.ok THEN to_timestamp(t.next_at) END, updated_at = now()
    FROM t
    WHERE d.id = ANY($1::bigint[]) AND d.id = t.id AND d.lease_token = t.token
)
INSERT INTO webhook_attempts (delivery_id, endpoint_id, number, started_at, duration_ms, succeeded,
                              status_code, error_class, error, request_headers, response_body, worker)
SELECT id, endpoint_id, number, started_at, duration_ms, ok, code, error_class, error,
       CAST(headers AS jsonb), body, $16
FROM t
-- The endpoint (and with it the delivery) may have been deleted while the attempt was in flight.
WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = t.id)
"""

_HOST = socket.gethostname()

_CLEAR_FAILING = text(
    "UPDATE webhook_endpoints SET failing_since = NULL "
    "WHERE id = ANY(CAST(:ids AS uuid[])) AND failing_since IS NOT NULL"
)
_MARK_FAILING = text(
    "UPDATE webhook_endpoints SET failing_since = :at "
    "WHERE id = ANY(CAST(:ids AS uuid[])) AND failing_since IS NULL"
)
_DISABLE = text(
    """
UPDATE webhook_endpoints
SET enabled = false, updated_at = now(),
    disabled_reason = CASE WHEN id = ANY(CAST(:gone AS uuid[])) THEN 'gone' ELSE 'failing' END
WHERE enabled AND (id = ANY(CAST(:gone AS uuid[]))
                   OR (id = ANY(CAST(:failing AS uuid[])) AND failing_since <= :failing_cutoff))
RETURNING id, url, disabled_reason, failing_since, now() AS disabled_at
"""
)


def _outcome(result: AttemptResult, now: float) -> tuple[str, int, float]:
    """(status, retries in the current schedule, next attempt) of the delivery after this attempt."""
    if result.succeeded:
        return "succeeded", result.claim.retry_count, now
    failures = result.claim.retry_count + 1
    delay = None if result.status_code == 410 else next_delay(failures, result.retry_after)
    if delay is None:
        return "failed", failures, now
    return "pending", failures, now + delay


_headers_json = msgspec.json.Encoder()


async def log_and_move(raw: asyncpg.Connection | asyncpg.Pool, results: Sequence[AttemptResult]) -> None:
    """Log the attempts and move their deliveries on, in one statement on ``raw`` (see ``_RECORD``)."""
    now = time.time()
    outcomes = [_outcome(r, now) for r in results]
    await raw.execute(
        _RECORD,
        [r.claim.delivery_id for r in results],
        [r.claim.lease_token for r in results],
        [r.claim.endpoint_id for r in results],
        [r.claim.attempt_count + 1 for r in results],
        [r.started_at for r in results],
        [r.duration_ms for r in results],
        [r.error_class is None for r in results],
        [r.status_code for r in results],
        [r.error_class for r in results],
        [r.error for r in results],
        [_headers_json.encode(r.request_headers).decode() for r in results],
        [r.response_body for r in results],
        [o[0] for o in outcomes],
        [o[1] for o in outcomes],
        [o[2] for o in outcomes],
        f"{_HOST}:{os.getpid()}",  # per call: correct in forked processes too
    )


def touches_endpoints(results: Sequence[AttemptResult]) -> bool:
    """Whether recording ``results`` changes endpoint health (any failure, or a failing one recovered)."""
    return any(not r.succeeded or r.claim.endpoint_failing for r in results)


async def update_endpoints(
    conn: AsyncConnection, results: Sequence[AttemptResult], *, disable_after_seconds: float
) -> None:
    """Endpoint health after these attempts: failing since, recovered, disabled (410, or failing too long)."""
    now = dt.datetime.now(dt.UTC)
    succeeded = {r.claim.endpoint_id for r in results if r.succeeded}
    failing = {r.claim.endpoint_id for r in results if not r.succeeded} - succeeded
    gone = {r.claim.endpoint_id for r in results if r.status_code == 410}
    # Healthy endpoints (the common case) cost no write here.
    recovered = {r.claim.endpoint_id for r in results if r.succeeded and r.claim.endpoint_failing}
    if recovered:
        await conn.execute(_CLEAR_FAILING, {"ids": list(recovered)})
    if not failing:
        return
    await conn.execute(_MARK_FAILING, {"ids": list(failing), "at": now})
    cutoff = now - dt.timedelta(seconds=disable_after_seconds)
    params = {"gone": list(gone), "failing": list(failing), "failing_cutoff": cutoff}
    disabled = (await conn.execute(_DISABLE, params)).mappings().all()
    events = [
        OutgoingEvent(
            type="endpoint.disabled",
            data=EndpointDisabledData(
                endpoint_id=row["id"],
                url=row["url"],
                reason=row["disabled_reason"],
                disabled_at=row["disabled_at"],
                failing_since=row["failing_since"],
            ),
        )
        for row in disabled
    ]
    await publish(conn, events)


async def record(
    conn: AsyncConnection, results: Sequence[AttemptResult], *, disable_after_seconds: float
) -> None:
    """Write a batch of attempt results in ``conn``'s transaction."""
    await log_and_move(await raw_transaction(conn), results)
    if touches_endpoints(results):
        await update_endpoints(conn, results, disable_after_seconds=disable_after_seconds)
