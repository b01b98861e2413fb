"""End-to-end delivery: publish() in a transaction → worker woken by NOTIFY → signed request received."""

from __future__ import annotations

import json

import msgspec
import pytest
from sqlalchemy import text
from standardwebhooks import Webhook

from api.webhooks.catalog import TicketEventData
from api.webhooks.publish import OutgoingEvent, publish, render_body
from tests.webhooks.conftest import eventually
from tests.webhooks.helpers import ENDPOINTS, create_endpoint, publish_committed, resolved_event, scalar
from tests.webhooks.receiver import Receiver, Reply


async def delivery_status(engine, message_id):
    return await scalar(engine, "SELECT status FROM webhook_deliveries WHERE message_id = :m", m=message_id)


async def test_resolved_event_is_delivered_signed_and_verifiable(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        assert await publish_committed(engine, event) == 1
        (request,) = await receiver.wait_for(1)

        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert payload["type"] == "ticket.resolved"
        assert payload["data"]["ticket"]["requester"]["email"] == "ada@example.com"
        assert payload["data"]["resolved_by"]["name"] == "Grace Hopper"
        assert payload["data"]["time_to_resolution_seconds"] == 7200
        assert payload["data"]["previous_status"] == "open"
        assert request.headers["webhook-id"] == event.id
        assert request.headers["content-type"] == "application/json"
        stored = await scalar(engine, "SELECT body FROM webhook_messages WHERE id = :m", m=event.id)
        assert request.body == stored == render_body(event)
        assert list(json.loads(request.body)) == ["type", "timestamp", "data"]

        async def succeeded():
            return await delivery_status(engine, event.id) == "succeeded"

        await eventually(succeeded, what="delivery recorded as succeeded")
        delivery = (
            await wh_client.get(
                "/v1/webhooks/deliveries", params={"message_id": event.id}, headers=admin_headers
            )
        ).json()["data"][0]
        attempts = (
            await wh_client.get(f"/v1/webhooks/deliveries/{delivery['id']}/attempts", headers=admin_headers)
        ).json()["data"]
        assert len(attempts) == 1
        assert attempts[0]["status_code"] == 200
        assert attempts[0]["succeeded"] is True
        assert attempts[0]["response_body"] == "ok"
        assert attempts[0]["request_headers"]["webhook-id"] == event.id
        assert attempts[0]["duration_ms"] > 0


async def test_test_endpoint_sends_a_signed_ping(wh_client, admin_headers, worker):
    async with Receiver() as receiver:
        endpoint = await create_endpoint(
            wh_client, admin_headers, url=receiver.url, event_types=["ticket.closed"]
        )
        r = await wh_client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=admin_headers)
        assert r.status_code == 202
        (request,) = await receiver.wait_for(1)
        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert payload["type"] == "webhook.test"
        assert payload["data"]["endpoint_id"] == endpoint["id"]


async def test_custom_headers_are_sent_and_redacted_in_logs(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        await create_endpoint(
            wh_client,
            admin_headers,
            url=receiver.url,
            headers={"Authorization": "Bearer s3cret", "X-Tenant": "acme"},
        )
        event = resolved_event()
        await publish_committed(engine, event)
        (request,) = await receiver.wait_for(1)
        assert request.headers["authorization"] == "Bearer s3cret"
        assert request.headers["x-tenant"] == "acme"

        async def logged():
            return await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 1

        await eventually(logged)
        headers = await scalar(engine, "SELECT request_headers FROM webhook_attempts")
        # Masked whatever the name: a tenant header may be a credential too.
        assert headers["Authorization"] == "[redacted]"
        assert headers["X-Tenant"] == "[redacted]"
        assert headers["webhook-id"] == event.id


async def test_rolled_back_transaction_delivers_nothing(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        doomed = resolved_event(1)
        async with engine.connect() as conn:
            transaction = await conn.begin()
            assert await publish(conn, [doomed]) == 1
            await transaction.rollback()
        kept = resolved_event(2)
        await publish_committed(engine, kept)
        (request,) = await receiver.wait_for(1)
        assert request.headers["webhook-id"] == kept.id

        async def settled():
            return await delivery_status(engine, kept.id) == "succeeded"

        await eventually(settled)
        assert len(receiver.requests) == 1
        assert await scalar(engine, "SELECT count(*) FROM webhook_messages WHERE id = :m", m=doomed.id) == 0
        assert await scalar(engine, "SELECT count(*) FROM webhook_deliveries") == 1


async def test_subscriptions_and_disabled_endpoints(wh_client, admin_headers, engine):
    resolved_only = await create_endpoint(
        wh_client, admin_headers, url="http://127.0.0.1:9/a", event_types=["ticket.resolved"]
    )
    everything = await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/b")
    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/c", enabled=False)

    resolved = resolved_event()
    created = OutgoingEvent(type="ticket.created", data=TicketEventData(ticket=resolved.data.ticket))
    assert await publish_committed(engine, created) == 1
    assert await publish_committed(engine, resolved) == 2
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT d.endpoint_id::text, m.type FROM webhook_deliveries d "
                    "JOIN webhook_messages m ON m.id = d.message_id ORDER BY d.id"
                )
            )
        ).all()
    assert sorted(rows) == sorted(
        [
            (everything["id"], "ticket.created"),
            (resolved_only["id"], "ticket.resolved"),
            (everything["id"], "ticket.resolved"),
        ]
    )


async def test_events_nobody_subscribes_to_are_not_stored(engine):
    assert await publish_committed(engine, resolved_event()) == 0
    assert await scalar(engine, "SELECT count(*) FROM webhook_messages") == 0


@pytest.mark.parametrize("status", [200, 201, 204])
async def test_any_2xx_is_success(wh_client, admin_headers, engine, worker, status):
    async with Receiver(lambda _r: Reply(status=status, body=b"")) as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        await publish_committed(engine, event)
        await receiver.wait_for(1)

        async def succeeded():
            return await delivery_status(engine, event.id) == "succeeded"

        await eventually(succeeded)


async def test_api_process_delivers_with_its_own_runner(wh_settings, admin_headers):
    """``helpdesk serve`` runs the delivery job in-process by default (run_worker)."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    serving = msgspec.structs.replace(wh_settings, run_worker=True)
    async with Receiver() as receiver, AsyncTestClient(create_app(serving)) as client:
        endpoint = await create_endpoint(client, admin_headers, url=receiver.url)
        r = await client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=admin_headers)
        assert r.status_code == 202
        (request,) = await receiver.wait_for(1)
        assert Webhook(endpoint["secret"]).verify(request.body, request.headers)["type"] == "webhook.test"
        metrics = (await client.get("/metrics")).text
        assert 'helpdesk_webhook_attempts_total{outcome="success"}' in metrics


async def test_publish_refuses_unknown_types_and_wrong_data(engine):
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="unknown webhook event type"):
            await publish(conn, [OutgoingEvent(type="ticket.exploded", data=resolved_event().data)])
        with pytest.raises(TypeError, match="TicketEventData"):
            await publish(conn, [OutgoingEvent(type="ticket.created", data=resolved_event().data)])


async def test_notify_wakes_listeners_only_on_commit(wh_client, admin_headers, engine, database_url):
    import asyncpg

    from api.db import asyncpg_dsn
    from api.webhooks.publish import CHANNEL

    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/x")
    listener = await asyncpg.connect(asyncpg_dsn(database_url))
    heard: list[str] = []
    await listener.add_listener(CHANNEL, lambda *args: heard.append(args[2]))
    try:
        async with engine.connect() as conn:
            tx = await conn.begin()
            await publish(conn, [resolved_event(1), resolved_event(2)])
            await tx.rollback()
        await publish_committed(engine, resolved_event(3), resolved_event(4))

        async def notified():
            await listener.execute("SELECT 1")  # let pending notifications in
            return len(heard) >= 1

        await eventually(notified)
        assert heard == [CHANNEL]  # one NOTIFY for the committed transaction, none for the rolled-back one
    finally:
        await listener.close()


async def test_binary_response_with_nul_bytes_is_logged(wh_client, admin_headers, engine, worker):
    async with Receiver(lambda _r: Reply(body=b"ok\x00\xff\xfe")) as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        await publish_committed(engine, event)
        await receiver.wait_for(1)

        async def succeeded():
            return await delivery_status(engine, event.id) == "succeeded"

        await eventually(succeeded)
        body = await scalar(engine, "SELECT response_body FROM webhook_attempts")
        assert body.startswith("ok\ufffd")
