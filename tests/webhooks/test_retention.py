"""Retention deletes old history but never a pending delivery."""

from __future__ import annotations

from api.webhooks.retention import RetentionJob
from tests.webhooks.conftest import eventually
from tests.webhooks.helpers import create_endpoint, execute, publish_committed, resolved_event, scalar
from tests.webhooks.receiver import Receiver


async def test_old_history_is_deleted_and_pending_kept(wh_client, admin_headers, engine, wh_settings, worker):
    async with Receiver() as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        old, recent = resolved_event(1), resolved_event(2)
        await publish_committed(engine, old, recent)
        await receiver.wait_for(2)

        async def recorded():
            return await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 2

        await eventually(recorded)
    stuck = resolved_event(3)
    await publish_committed(engine, stuck)
    await execute(
        engine,
        "UPDATE webhook_deliveries SET created_at = now() - interval '40 days' "
        "WHERE message_id = ANY(CAST(:m AS text[]))",
        m=[old.id, stuck.id],
    )
    await execute(
        engine,
        "UPDATE webhook_messages SET created_at = now() - interval '40 days' "
        "WHERE id = ANY(CAST(:m AS text[]))",
        m=[old.id, stuck.id],
    )
    await execute(
        engine,
        "UPDATE webhook_attempts SET started_at = now() - interval '40 days' "
        "WHERE delivery_id = (SELECT id FROM webhook_deliveries WHERE message_id = :m)",
        m=old.id,
    )
    job = RetentionJob(engine, wh_settings)
    assert await job.run_once() is False
    messages = await scalar(engine, "SELECT array_agg(id ORDER BY id) FROM webhook_messages")
    assert sorted(messages) == sorted([recent.id, stuck.id])
    assert (
        await scalar(
            engine, "SELECT count(*) FROM webhook_attempts WHERE started_at < now() - interval '1 day'"
        )
        == 0
    )
    recent_attempts = await scalar(
        engine,
        "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
        "WHERE d.message_id = :m",
        m=recent.id,
    )
    assert recent_attempts == 1
    statuses = await scalar(engine, "SELECT array_agg(status ORDER BY id) FROM webhook_deliveries")
    assert statuses == ["succeeded", "pending"]
