"""Idempotency-Key on the webhook POSTs: a retried call returns the first answer and does the work once."""

from __future__ import annotations

from tests.webhooks.helpers import ENDPOINTS, create_endpoint, scalar

URL = "https://hooks.example.com/in"


async def test_retried_endpoint_creation_creates_one_endpoint(wh_client, admin_headers, engine):
    headers = {**admin_headers, "Idempotency-Key": "create-1"}
    first = await wh_client.post(ENDPOINTS, json={"url": URL}, headers=headers)
    again = await wh_client.post(ENDPOINTS, json={"url": URL}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await scalar(engine, "SELECT count(*) FROM webhook_endpoints") == 1

    other_body = await wh_client.post(ENDPOINTS, json={"url": URL + "/2"}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["errors"][0]["location"] == "header"


async def test_retried_rotation_rotates_once(wh_client, admin_headers):
    endpoint = await create_endpoint(wh_client, admin_headers, url=URL)
    path = f"{ENDPOINTS}/{endpoint['id']}/rotate-secret"
    keyed = {**admin_headers, "Idempotency-Key": "rotate-1"}
    first = await wh_client.post(path, headers=keyed)
    again = await wh_client.post(path, headers=keyed)
    assert first.status_code == again.status_code == 200
    assert again.json()["secret"] == first.json()["secret"] != endpoint["secret"]
    fresh = await wh_client.post(path, headers={**admin_headers, "Idempotency-Key": "rotate-2"})
    assert fresh.json()["secret"] not in (first.json()["secret"], endpoint["secret"])


async def test_retried_test_event_sends_one_delivery(wh_client, admin_headers, engine):
    endpoint = await create_endpoint(wh_client, admin_headers, url=URL)
    path = f"{ENDPOINTS}/{endpoint['id']}/test"
    keyed = {**admin_headers, "Idempotency-Key": "ping-1"}
    first = await wh_client.post(path, headers=keyed)
    again = await wh_client.post(path, headers=keyed)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert await scalar(engine, "SELECT count(*) FROM webhook_deliveries") == 1
