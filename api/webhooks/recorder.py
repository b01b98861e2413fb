"""Recording attempt results in batches: attempt logs, delivery state, endpoint health and auto-disable.

One transaction per batch, a handful of statements whatever the batch size: at thousands of deliveries a
second the database sees tens of writes a second, not thousands.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.webhooks.catalog import EndpointDisabledData
from api.webhooks.publish import OutgoingEvent, publish
from api.webhooks.retry import next_delay
from api.webhooks.sender import AttemptResult

# One statement per batch: move each delivery on and log its attempt. Only the holder of the current
# lease may move a delivery on; a worker whose lease ran out (another worker has claimed the delivery
# since) still logs its attempt, but changes nothing else.
_RECORD = text(
    """
WITH t AS (
    SELECT * FROM unnest(
        CAST(:delivery AS bigint[]), CAST(:token AS uuid[]), CAST(:endpoint AS uuid[]),
        CAST(:number AS int[]), CAST(:started AS timestamptz[]), CAST(:duration AS float8[]),
        CAST(:ok AS bool[]), CAST(:code AS int[]), CAST(:error_class AS text[]), CAST(:error AS text[]),
        CAST(:headers AS text[]), CAST(:body AS text[]), CAST(:status AS text[]), CAST(:retries AS int[]),
        CAST(:next_at AS timestamptz[]), CAST(:delivered AS timestamptz[])
    ) AS t(id, token, endpoint_id, number, started_at, duration_ms, ok, code, error_class, error, headers,
           body, status, retries, next_at, delivered)
), moved AS (
    UPDATE webhook_deliveries d
    SET status = t.status, attempt_count = d.attempt_count + 1, retry_count = t.retries,
        next_attempt_at = t.next_at, locked_until = NULL, lease_token = NULL,
        last_status_code = t.code, last_error = t.error, delivered_at = t.delivered, updated_at = now()
    FROM t
    WHERE d.id = ANY(CAST(:delivery AS bigint[])) AND d.id = t.id AND d.lease_token = t.token
)
INSERT INTO webhook_attempts (delivery_id, endpoint_id, number, started_at, duration_ms, succeeded,
                              status_code, error_class, error, request_headers, response_body, worker)
SELECT id, endpoint_id, number, started_at, duration_ms, ok, code, error_class, error,
       CAST(headers AS jsonb), body, :worker
FROM t
-- The endpoint (and with it the delivery) may have been deleted while the attempt was in flight.
WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = t.id)
"""
)

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


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    retries: int
    next_at: dt.datetime
    delivered: dt.datetime | None


def _outcome(result: AttemptResult, now: dt.datetime) -> _Outcome:
    if result.succeeded:
        return _Outcome("succeeded", result.claim.retry_count, now, now)
    failures = result.claim.retry_count + 1
    delay = None if result.status_code == 410 else next_delay(failures, result.retry_after)
    if delay is None:
        return _Outcome("failed", failures, now, None)
    return _Outcome("pending", failures, now + dt.timedelta(seconds=delay), None)


async def _log_and_move(conn: AsyncConnection, results: Sequence[AttemptResult], now: dt.datetime) -> None:
    outcomes = [_outcome(r, now) for r in results]
    await conn.execute(
        _RECORD,
        {
            "delivery": [r.claim.delivery_id for r in results],
            "token": [r.claim.lease_token for r in results],
            "endpoint": [r.claim.endpoint_id for r in results],
            "number": [r.claim.attempt_count + 1 for r in results],
            "started": [r.started_at for r in results],
            "duration": [r.duration_ms for r in results],
            "ok": [r.succeeded for r in results],
            "code": [r.status_code for r in results],
            "error_class": [r.error_class for r in results],
            "error": [r.error for r in results],
            "headers": [json.dumps(r.request_headers) for r in results],
            "body": [r.response_body for r in results],
            "status": [o.status for o in outcomes],
            "retries": [o.retries for o in outcomes],
            "next_at": [o.next_at for o in outcomes],
            "delivered": [o.delivered for o in outcomes],
            "worker": f"{_HOST}:{os.getpid()}",  # per call: correct in forked processes too
        },
    )


async def _update_endpoints(
    conn: AsyncConnection, results: Sequence[AttemptResult], now: dt.datetime, disable_after: float
) -> None:
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
    cutoff = now - dt.timedelta(seconds=disable_after)
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
    now = dt.datetime.now(dt.UTC)
    await _log_and_move(conn, results, now)
    await _update_endpoints(conn, results, now, disable_after_seconds)
