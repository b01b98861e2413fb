"""Operations API: delivery lists and filters, redeliver, recover after an outage, health."""

from __future__ import annotations

import datetime as dt

from tests.webhooks.conftest import eventually
from tests.webhooks.helpers import (
    ENDPOINTS,
    create_endpoint,
    execute,
    publish_committed,
    resolved_event,
    scalar,
)
from tests.webhooks.receiver import Receiver, Reply

DELIVERIES = "/v1/webhooks/deliveries"


async def test_list_filters_and_pagination(wh_client, admin_headers, engine):
    a = await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/a")
    b = await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/b")
    events = [resolved_event(i) for i in range(5)]
    await publish_committed(engine, *events)
    await execute(
        engine,
        "UPDATE webhook_deliveries SET status = 'failed' WHERE endpoint_id = :e AND message_id = :m",
        e=a["id"],
        m=events[0].id,
    )
    page = (
        await wh_client.get(DELIVERIES, params={"endpoint_id": a["id"], "limit": 2}, headers=admin_headers)
    ).json()
    assert len(page["data"]) == 2
    seen = [d["id"] for d in page["data"]]
    while page["next_cursor"]:
        page = (
            await wh_client.get(
                DELIVERIES,
                params={"endpoint_id": a["id"], "limit": 2, "cursor": page["next_cursor"]},
                headers=admin_headers,
            )
        ).json()
        seen += [d["id"] for d in page["data"]]
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)
    per_event = (
        await wh_client.get(DELIVERIES, params={"message_id": events[3].id}, headers=admin_headers)
    ).json()
    assert {d["endpoint_id"] for d in per_event["data"]} == {a["id"], b["id"]}
    failed = (await wh_client.get(DELIVERIES, params={"status": "failed"}, headers=admin_headers)).json()
    assert [(d["endpoint_id"], d["message_id"]) for d in failed["data"]] == [(a["id"], events[0].id)]
    assert failed["data"][0]["next_attempt_at"] is None
    by_type = (
        await wh_client.get(DELIVERIES, params={"event_type": "ticket.closed"}, headers=admin_headers)
    ).json()
    assert by_type["data"] == []
    r = await wh_client.get(DELIVERIES, params={"status": "nope"}, headers=admin_headers)
    assert r.status_code == 422
    r = await wh_client.get(f"{DELIVERIES}/999999", headers=admin_headers)
    assert r.status_code == 404


async def test_redeliver_sends_again_with_same_id(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        await publish_committed(engine, event)
        await receiver.wait_for(1)
        delivery = (
            await wh_client.get(DELIVERIES, params={"message_id": event.id}, headers=admin_headers)
        ).json()["data"][0]

        async def done():
            got = (await wh_client.get(f"{DELIVERIES}/{delivery['id']}", headers=admin_headers)).json()
            return got["status"] == "succeeded" and got["attempt_count"] >= 1

        await eventually(done)
        r = await wh_client.post(f"{DELIVERIES}/{delivery['id']}/redeliver", headers=admin_headers)
        assert r.status_code == 202
        first, second = await receiver.wait_for(2)
        assert first.body == second.body
        assert first.headers["webhook-id"] == second.headers["webhook-id"]

        async def two_attempts():
            got = (await wh_client.get(f"{DELIVERIES}/{delivery['id']}", headers=admin_headers)).json()
            return got["attempt_count"] == 2 and got["status"] == "succeeded"

        await eventually(two_attempts)
        r = await wh_client.post(f"{DELIVERIES}/999999/redeliver", headers=admin_headers)
        assert r.status_code == 404


async def test_redeliver_refuses_while_in_flight(wh_client, admin_headers, engine):
    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/a")
    event = resolved_event()
    await publish_committed(engine, event)
    await execute(engine, "UPDATE webhook_deliveries SET locked_until = now() + interval '1 minute'")
    delivery_id = await scalar(engine, "SELECT id FROM webhook_deliveries")
    r = await wh_client.post(f"{DELIVERIES}/{delivery_id}/redeliver", headers=admin_headers)
    assert r.status_code == 409


async def test_recover_resends_failed_deliveries_since(wh_client, admin_headers, engine, worker):
    outage = True
    async with Receiver(lambda _r: Reply(status=503) if outage else Reply()) as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        old, given_up, retrying = resolved_event(1), resolved_event(2), resolved_event(3)
        await publish_committed(engine, old, given_up, retrying)
        await receiver.wait_for(3)

        async def attempted():
            return await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 3

        await eventually(attempted)
        # As after a long outage: one delivery given up on, one waiting hours for its next retry, and
        # one given up on before the window.
        await execute(
            engine,
            "UPDATE webhook_deliveries SET next_attempt_at = now() + interval '5 hours', retry_count = 5",
        )
        await execute(
            engine,
            "UPDATE webhook_deliveries SET status = 'failed' WHERE message_id = ANY(CAST(:m AS text[]))",
            m=[old.id, given_up.id],
        )
        await execute(
            engine,
            "UPDATE webhook_deliveries SET created_at = now() - interval '2 days' WHERE message_id = :m",
            m=old.id,
        )
        outage = False
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
        r = await wh_client.post(
            f"{ENDPOINTS}/{endpoint['id']}/recover", json={"since": since}, headers=admin_headers
        )
        assert r.status_code == 202, r.text
        assert r.json() == {"requeued": 2}
        resent = (await receiver.wait_for(5))[3:]
        assert {request.headers["webhook-id"] for request in resent} == {given_up.id, retrying.id}

        async def recovered():
            done = await scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'")
            return done == 2

        await eventually(recovered)
        assert (
            await scalar(engine, "SELECT status FROM webhook_deliveries WHERE message_id = :m", m=old.id)
            == "failed"
        )


async def test_health_over_last_24_hours(wh_client, admin_headers, engine, worker):
    replies = iter([Reply(status=500, body=b"boom")] + [Reply()] * 10)
    async with Receiver(lambda _r: next(replies)) as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        await publish_committed(engine, resolved_event(1))
        await receiver.wait_for(1)
        await publish_committed(engine, resolved_event(2), resolved_event(3))

        async def settled():
            return await scalar(engine, "SELECT count(*) FROM webhook_attempts") >= 3

        await eventually(settled)
        health = (await wh_client.get(f"{ENDPOINTS}/{endpoint['id']}/health", headers=admin_headers)).json()
        assert health["attempts"] >= 3
        assert 0 < health["success_rate"] < 1
        assert health["p50_ms"] > 0
        assert health["p99_ms"] >= health["p50_ms"]
        assert health["last_error"] == "HTTP 500"
        assert health["last_error_at"] is not None
        assert health["last_success_at"] is not None
    r = await wh_client.get(f"{ENDPOINTS}/00000000-0000-0000-0000-000000000000/health", headers=admin_headers)
    assert r.status_code == 404
