"""Leases: a claim is exclusive, and only the holder of the current lease may move a delivery on."""

from __future__ import annotations

import datetime as dt

from api.webhooks.recorder import record
from api.webhooks.sender import AttemptResult, Claim
from api.webhooks.worker import DeliveryJob
from tests.webhooks.helpers import create_endpoint, execute, publish_committed, resolved_event, scalar


def _result(claim: Claim, status: int) -> AttemptResult:
    return AttemptResult(
        claim=claim,
        started_at=dt.datetime.now(dt.UTC),
        duration_ms=1.0,
        status_code=status,
        error_class=None if status < 300 else "http_status",
        error=None if status < 300 else f"HTTP {status}",
        request_headers={"webhook-id": claim.message_id},
        response_body="",
        retry_after=None,
    )


async def test_claimed_delivery_is_not_claimed_again_until_the_lease_ends(
    engine, wh_settings, wh_client, admin_headers
):
    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/x")
    await publish_committed(engine, resolved_event())
    first, second = DeliveryJob(engine, wh_settings), DeliveryJob(engine, wh_settings)
    try:
        (claim,) = await first._claim(10, {})
        assert await second._claim(10, {}) == []
        lease = await scalar(
            engine, "SELECT extract(epoch FROM locked_until - now()) FROM webhook_deliveries"
        )
        assert wh_settings.webhook_lease_seconds - 1 < float(lease) <= wh_settings.webhook_lease_seconds
        # The first worker "dies"; when its lease has run out the delivery is claimable again.
        await execute(engine, "UPDATE webhook_deliveries SET next_attempt_at = now(), locked_until = now()")
        (again,) = await second._claim(10, {})
        assert again.delivery_id == claim.delivery_id
        assert again.lease_token != claim.lease_token
        assert again.body == claim.body
    finally:
        await first.close()
        await second.close()


async def test_stale_lease_holder_logs_its_attempt_but_cannot_settle_the_delivery(
    engine, wh_settings, wh_client, admin_headers
):
    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/x")
    await publish_committed(engine, resolved_event())
    first, second = DeliveryJob(engine, wh_settings), DeliveryJob(engine, wh_settings)
    try:
        (stale,) = await first._claim(10, {})
        await execute(engine, "UPDATE webhook_deliveries SET next_attempt_at = now(), locked_until = now()")
        (current,) = await second._claim(10, {})
    finally:
        await first.close()
        await second.close()
    async with engine.begin() as conn:
        await record(conn, [_result(stale, 200)], disable_after_seconds=3600)
    assert await scalar(engine, "SELECT status FROM webhook_deliveries") == "pending"
    assert str(await scalar(engine, "SELECT lease_token FROM webhook_deliveries")) == str(current.lease_token)
    assert await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 1
    async with engine.begin() as conn:
        await record(conn, [_result(current, 503)], disable_after_seconds=3600)
    assert await scalar(engine, "SELECT status FROM webhook_deliveries") == "pending"
    assert await scalar(engine, "SELECT retry_count FROM webhook_deliveries") == 1
    assert await scalar(engine, "SELECT lease_token FROM webhook_deliveries") is None
    assert await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 2


async def test_delivery_fails_for_good_after_the_last_retry(engine, wh_settings, wh_client, admin_headers):
    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/x")
    await publish_committed(engine, resolved_event())
    await execute(engine, "UPDATE webhook_deliveries SET retry_count = 9, attempt_count = 9")
    job = DeliveryJob(engine, wh_settings)
    try:
        (claim,) = await job._claim(10, {})
    finally:
        await job.close()
    async with engine.begin() as conn:
        await record(conn, [_result(claim, 500)], disable_after_seconds=3600)
    assert await scalar(engine, "SELECT status FROM webhook_deliveries") == "failed"
    assert await scalar(engine, "SELECT attempt_count FROM webhook_deliveries") == 10
    assert await scalar(engine, "SELECT number FROM webhook_attempts") == 10
