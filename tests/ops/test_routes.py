"""Operator endpoints, request ids, access logs and metrics, through HTTP."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.conftest import app_client

PROBLEM = "application/problem+json"


async def test_healthz_needs_no_key(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_schema_at_head(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["schema_revision"] == body["expected_revision"]


async def test_readyz_is_503_when_schema_is_behind(client, engine):
    async with engine.begin() as conn:
        head = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        await conn.execute(text("UPDATE alembic_version SET version_num = 'behind'"))
    try:
        response = await client.get("/readyz")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["type"] == "urn:helpdesk:problem:unavailable"
    assert "behind" in response.json()["detail"]


async def test_readyz_is_503_when_database_is_unreachable(settings):
    import msgspec
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    unreachable = msgspec.structs.replace(settings, database_url="postgresql://nobody@127.0.0.1:1/none")
    async with AsyncTestClient(create_app(unreachable)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database unreachable")


async def test_every_response_carries_a_request_id(client):
    for path in ("/healthz", "/v1/api-keys", "/no-such-route"):
        response = await client.get(path)
        assert len(response.headers["x-request-id"]) == 32


async def test_client_request_id_is_echoed_into_header_and_problem(client):
    response = await client.get("/v1/api-keys", headers={"X-Request-ID": "req-abc.123"})
    assert response.headers["x-request-id"] == "req-abc.123"
    assert response.json()["request_id"] == "req-abc.123"


async def test_unsafe_client_request_id_is_replaced(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"


async def test_access_log_is_one_json_line_per_request(settings, capsys: pytest.CaptureFixture[str]):
    async with app_client(settings) as client:
        response = await client.get("/healthz", headers={"X-Request-ID": "log-check"})
        await client.get("/healthz", headers={"X-Request-ID": "log-check-2"})
    # Lines are flushed in batches and at shutdown; the client has shut the app down by now.
    lines = [line for line in capsys.readouterr().err.splitlines() if '"log-check' in line]
    assert len(lines) == 2
    entry, second = (json.loads(line) for line in lines)
    assert second["request_id"] == "log-check-2"
    assert entry["logger"] == "api.access"
    assert entry["request_id"] == "log-check"
    assert entry["method"] == "GET"
    assert entry["route"] == "/healthz"
    assert entry["status"] == response.status_code == 200
    assert entry["duration_ms"] >= 0


async def test_metrics_count_requests_per_route_and_status(client, admin_headers):
    await client.get("/v1/api-keys", headers=admin_headers)
    await client.get("/v1/api-keys")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert 'helpdesk_http_requests_total{method="GET",route="/v1/api-keys",status="200"}' in body
    assert 'helpdesk_http_requests_total{method="GET",route="/v1/api-keys",status="401"}' in body
    assert (
        'helpdesk_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/api-keys"' in body
    )


async def test_metrics_label_routes_by_template_not_raw_path(client, admin_headers):
    await client.get("/v1/api-keys/00000000-0000-0000-0000-000000000000", headers=admin_headers)
    body = (await client.get("/metrics")).text
    assert 'route="/v1/api-keys/{key_id}",status="404"' in body
    assert "00000000-0000" not in body
