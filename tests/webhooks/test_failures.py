"""Failures: retries with the same id and body, Retry-After, redirects, 410, auto-disable, isolation."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import msgspec
from standardwebhooks import Webhook

from api.webhooks.worker import DeliveryJob
from tests.webhooks.conftest import eventually, running
from tests.webhooks.helpers import (
    ENDPOINTS,
    create_endpoint,
    execute,
    publish_committed,
    resolved_event,
    scalar,
)
from tests.webhooks.receiver import Receiver, Reply


async def delivery(client, auth, message_id):
    r = await client.get("/v1/webhooks/deliveries", params={"message_id": message_id}, headers=auth)
    return r.json()["data"][0]


async def attempts(client, auth, delivery_id):
    r = await client.get(f"/v1/webhooks/deliveries/{delivery_id}/attempts", headers=auth)
    return r.json()["data"]


async def test_failure_is_retried_with_same_id_and_body_honouring_retry_after(
    wh_client, admin_headers, engine, worker
):
    replies = iter([Reply(status=503, body=b"busy", headers={"Retry-After": "1"}), Reply()])
    async with Receiver(lambda _r: next(replies)) as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        await publish_committed(engine, event)
        first, second = await receiver.wait_for(2, within=10)
        # Retry-After: 1 replaced the schedule's 5 s.
        assert 0.9 <= second.at - first.at < 4
        assert first.body == second.body
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.id
        Webhook(endpoint["secret"]).verify(second.body, second.headers)

        async def settled():
            return (await delivery(wh_client, admin_headers, event.id))["status"] == "succeeded"

        await eventually(settled)
        found = await delivery(wh_client, admin_headers, event.id)
        assert found["attempt_count"] == 2
        logged = await attempts(wh_client, admin_headers, found["id"])
        assert [(a["number"], a["status_code"], a["error_class"]) for a in logged] == [
            (1, 503, "http_status"),
            (2, 200, None),
        ]
        assert logged[0]["response_body"] == "busy"


async def test_failure_schedules_backoff_and_logs_error(wh_client, admin_headers, engine, worker, caplog):
    caplog.set_level(logging.WARNING, logger="api.webhooks.worker")
    async with Receiver(lambda _r: Reply(status=500, body=b"x" * 10_000)) as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        await publish_committed(engine, event)
        await receiver.wait_for(1)

        async def failed_once():
            return (await delivery(wh_client, admin_headers, event.id))["attempt_count"] == 1

        await eventually(failed_once)
        found = await delivery(wh_client, admin_headers, event.id)
        assert found["status"] == "pending"
        assert found["last_status_code"] == 500
        delay = await scalar(
            engine,
            "SELECT extract(epoch FROM next_attempt_at - updated_at) FROM webhook_deliveries WHERE id = :i",
            i=found["id"],
        )
        assert 4 <= float(delay) <= 6  # 5 s ± 20% jitter
        (logged,) = await attempts(wh_client, admin_headers, found["id"])
        assert len(logged["response_body"]) == 4096
        # The operator's log says which endpoint failed and why, without a query.
        (line,) = [r for r in caplog.records if r.getMessage() == "webhook delivery failed"]
        assert line.levelno == logging.WARNING
        assert line.endpoint_id == endpoint["id"]
        assert (line.reason, line.status_code, line.attempt) == ("http_status", 500, 1)
        assert line.message_id == event.id
        assert line.endpoint_origin == receiver.url.split("/", 3)[0] + "//" + receiver.url.split("/")[2]


async def test_redirects_are_failures_and_not_followed(wh_client, admin_headers, engine, worker):
    async with Receiver(
        lambda _r: Reply(status=302, headers={"Location": "http://127.0.0.1:1/x"})
    ) as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        await publish_committed(engine, event)
        await receiver.wait_for(1)

        async def attempted():
            return (await delivery(wh_client, admin_headers, event.id))["attempt_count"] == 1

        await eventually(attempted)
        found = await delivery(wh_client, admin_headers, event.id)
        assert found["status"] == "pending"
        assert found["last_status_code"] == 302
        assert len(receiver.requests) == 1


async def test_gone_disables_endpoint_and_emits_endpoint_disabled(wh_client, admin_headers, engine, worker):
    async with Receiver(lambda _r: Reply(status=410)) as gone, Receiver() as ops:
        dead = await create_endpoint(wh_client, admin_headers, url=gone.url, event_types=["ticket.resolved"])
        watcher = await create_endpoint(
            wh_client, admin_headers, url=ops.url, event_types=["endpoint.disabled"]
        )
        event = resolved_event()
        await publish_committed(engine, event)
        (notice,) = await ops.wait_for(1)
        payload = Webhook(watcher["secret"]).verify(notice.body, notice.headers)
        assert payload["type"] == "endpoint.disabled"
        assert payload["data"]["endpoint_id"] == dead["id"]
        assert payload["data"]["reason"] == "gone"
        got = (await wh_client.get(f"{ENDPOINTS}/{dead['id']}", headers=admin_headers)).json()
        assert got["enabled"] is False
        assert got["disabled_reason"] == "gone"
        assert (await delivery(wh_client, admin_headers, event.id))["status"] == "failed"


async def test_endpoint_failing_for_five_days_is_disabled(wh_client, admin_headers, engine, worker):
    async with Receiver(lambda _r: Reply(status=500)) as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        await execute(
            engine,
            "UPDATE webhook_endpoints SET failing_since = now() - interval '5 days 1 minute' WHERE id = :i",
            i=endpoint["id"],
        )
        await publish_committed(engine, resolved_event())
        await receiver.wait_for(1)

        async def disabled():
            got = (await wh_client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=admin_headers)).json()
            return got["disabled_reason"] == "failing"

        await eventually(disabled)


async def test_success_clears_failing_since(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        await execute(
            engine,
            "UPDATE webhook_endpoints SET failing_since = now() - interval '1 day' WHERE id = :i",
            i=endpoint["id"],
        )
        await publish_committed(engine, resolved_event())
        await receiver.wait_for(1)

        async def cleared():
            got = (await wh_client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=admin_headers)).json()
            return got["failing_since"] is None

        await eventually(cleared)


async def test_rotation_signs_with_old_and_new_secret(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        rotated = (
            await wh_client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", headers=admin_headers)
        ).json()
        await publish_committed(engine, resolved_event())
        (request,) = await receiver.wait_for(1)
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
        Webhook(rotated["secret"]).verify(request.body, request.headers)


async def test_expired_previous_secret_no_longer_signs(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        endpoint = await create_endpoint(wh_client, admin_headers, url=receiver.url)
        await wh_client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", headers=admin_headers)
        await execute(
            engine,
            "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second'",
        )
        await publish_committed(engine, resolved_event())
        (request,) = await receiver.wait_for(1)
        assert len(request.headers["webhook-signature"].split(" ")) == 1


async def test_dead_endpoint_does_not_delay_healthy_ones(wh_client, admin_headers, engine, wh_settings):
    patient = msgspec.structs.replace(
        wh_settings, webhook_timeout_seconds=8.0, webhook_lease_seconds=20.0, webhook_endpoint_concurrency=4
    )
    job = DeliveryJob(engine, patient)
    async with Receiver(lambda _r: Reply(hang=True)) as dead, Receiver() as healthy:
        await create_endpoint(wh_client, admin_headers, url=dead.url)
        await create_endpoint(wh_client, admin_headers, url=healthy.url)
        async with running(patient, [job]):
            started = time.monotonic()
            for batch in range(5):
                await publish_committed(engine, *(resolved_event(batch * 20 + i) for i in range(20)))
            await healthy.wait_for(100, within=8)
            # All 100 arrived while the dead endpoint held its 4 slots, waiting out an 8 s timeout.
            assert time.monotonic() - started < 4
            assert len(dead.requests) == 4


async def test_delivery_refuses_loopback_without_allow_list(wh_client, admin_headers, engine, wh_settings):
    strict = msgspec.structs.replace(wh_settings, webhook_allow_cidrs="")
    job = DeliveryJob(engine, strict)
    async with Receiver() as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        by_name = await create_endpoint(wh_client, admin_headers, url=f"http://127.0.0.1:{receiver.port}/x")
        await execute(
            engine,
            "UPDATE webhook_endpoints SET url = :u WHERE id = :i",
            u=f"http://localhost:{receiver.port}/hook",
            i=by_name["id"],
        )
        await publish_committed(engine, resolved_event())
        async with running(strict, [job]):

            async def refused():
                count = await scalar(
                    engine, "SELECT count(*) FROM webhook_attempts WHERE error_class = 'ssrf_refused'"
                )
                return count == 2

            await eventually(refused)
        assert receiver.requests == []
        errors = await scalar(engine, "SELECT string_agg(error, ' | ') FROM webhook_attempts")
        assert "loopback" in errors


async def test_concurrent_claims_never_overlap(engine, wh_settings, wh_client, admin_headers):
    """Two jobs claiming at once from one backlog get disjoint deliveries."""
    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/x")
    await create_endpoint(wh_client, admin_headers, url="http://127.0.0.1:9/y")
    await publish_committed(engine, *(resolved_event(i) for i in range(30)))
    settings = msgspec.structs.replace(wh_settings, webhook_endpoint_concurrency=100)
    a, b = DeliveryJob(engine, settings), DeliveryJob(engine, settings)
    try:
        first, second = await asyncio.gather(a._claim(1000, {}), b._claim(1000, {}))
    finally:
        await a.close()
        await b.close()
    ids_a = {c.delivery_id for c in first}
    ids_b = {c.delivery_id for c in second}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 60
    tokens = await scalar(engine, "SELECT count(DISTINCT lease_token) FROM webhook_deliveries")
    assert tokens in (1, 2)
    assert uuid.UUID(str(first[0].lease_token if first else second[0].lease_token))


async def test_outage_is_ridden_out_along_the_backoff_schedule(wh_client, admin_headers, engine, worker):
    """A consumer down for hours: each failure schedules the next retry per the schedule (time is
    fast-forwarded by moving next_attempt_at), and the event arrives once the consumer is back."""
    from api.webhooks.retry import SCHEDULE_SECONDS

    failures = 4
    replies = iter([Reply(status=503)] * failures + [Reply()])
    async with Receiver(lambda _r: next(replies)) as receiver:
        await create_endpoint(wh_client, admin_headers, url=receiver.url)
        event = resolved_event()
        await publish_committed(engine, event)
        for attempt in range(1, failures + 1):
            await receiver.wait_for(attempt)

            async def recorded(n=attempt):
                return await scalar(engine, "SELECT attempt_count FROM webhook_deliveries") == n

            await eventually(recorded)
            delay = await scalar(
                engine, "SELECT extract(epoch FROM next_attempt_at - updated_at) FROM webhook_deliveries"
            )
            base = SCHEDULE_SECONDS[attempt - 1]
            assert base * 0.8 - 1 <= float(delay) <= base * 1.2 + 1
            # Time passes: the retry falls due now; the worker's fallback poll picks it up.
            await execute(engine, "UPDATE webhook_deliveries SET next_attempt_at = now()")
        requests = await receiver.wait_for(failures + 1)
        assert {r.headers["webhook-id"] for r in requests} == {event.id}
        assert len({r.body for r in requests}) == 1

        async def delivered():
            return await scalar(engine, "SELECT status FROM webhook_deliveries") == "succeeded"

        await eventually(delivered)


async def test_connects_to_the_checked_address_and_keeps_the_host_name(
    wh_client, admin_headers, engine, worker, monkeypatch
):
    """The host is resolved once by the guard; the request goes to that address with the URL's Host."""
    import socket

    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    # In socket, not the test's loop: registration resolves too, on the test client's own loop.
    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.customer.test":
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    async with Receiver() as receiver:
        url = f"http://hooks.customer.test:{receiver.port}/hook"
        await create_endpoint(wh_client, admin_headers, url=url)
        registration_lookups = len(lookups)
        await publish_committed(engine, resolved_event(1), resolved_event(2))
        requests = await receiver.wait_for(2)
        assert {r.headers["host"] for r in requests} == {f"hooks.customer.test:{receiver.port}"}
        # One lookup for the connection pool, checked and reused: not one per request.
        assert len(lookups) - registration_lookups == 1
