"""Every error is RFC 9457 problem+json with a stable type; never a stack trace, never a 500 for bad input."""

from __future__ import annotations

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from api.app import create_app
from api.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)

PROBLEM = "application/problem+json"
PREFIX = "urn:helpdesk:problem:"


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == PREFIX + slug
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_is_404_problem(client):
    body = assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")
    assert "/v1/nothing-here" in body["detail"]


async def test_wrong_method_is_405_problem(client):
    response = await client.delete("/healthz")
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


async def test_malformed_json_is_400_problem(client, admin_headers):
    response = await client.post(
        "/v1/api-keys",
        content=b'{"name": "x", "role": ',
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert_problem(response, 400, "malformed-request")


async def test_validation_errors_list_each_field_with_its_json_path(client, admin_headers):
    response = await client.post("/v1/api-keys", json={"name": 5, "role": "admin"}, headers=admin_headers)
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{"location": "body", "path": "$.name", "message": "Expected `str`, got `int`"}]


async def test_enum_and_missing_fields_are_validation_errors(client, admin_headers):
    bad_role = await client.post("/v1/api-keys", json={"name": "x", "role": "root"}, headers=admin_headers)
    assert assert_problem(bad_role, 422, "validation-error")["errors"][0]["path"] == "$.role"
    missing = await client.post("/v1/api-keys", json={"role": "admin"}, headers=admin_headers)
    error = assert_problem(missing, 422, "validation-error")["errors"][0]
    assert error["location"] == "body"
    assert "name" in error["message"]


async def test_unknown_fields_are_rejected(client, admin_headers):
    response = await client.post(
        "/v1/api-keys", json={"name": "x", "role": "admin", "secret": "y"}, headers=admin_headers
    )
    body = assert_problem(response, 422, "validation-error")
    assert "secret" in body["errors"][0]["message"]


async def test_bad_query_and_path_parameters_are_422(client, admin_headers):
    limit = await client.get("/v1/api-keys", params={"limit": 1000}, headers=admin_headers)
    assert assert_problem(limit, 422, "validation-error")["errors"][0] == {
        "location": "query",
        "path": "limit",
        "message": limit.json()["errors"][0]["message"],
    }
    cursor = await client.get("/v1/api-keys", params={"cursor": "garbage!"}, headers=admin_headers)
    assert assert_problem(cursor, 422, "validation-error")["errors"][0]["path"] == "cursor"


async def test_non_uuid_path_is_404_not_500(client, admin_headers):
    assert_problem(await client.get("/v1/api-keys/not-a-uuid", headers=admin_headers), 404, "not-found")


async def test_payload_too_large_is_413(settings, engine):
    from tests.conftest import make_key

    small = msgspec.structs.replace(settings, max_body_bytes=64)
    headers = {"Authorization": f"Bearer {await make_key(engine)}"}
    async with AsyncTestClient(create_app(small)) as client:
        response = await client.post(
            "/v1/api-keys", json={"name": "x" * 200, "role": "admin"}, headers=headers
        )
    assert_problem(response, 413, "payload-too-large")


async def test_internal_error_is_generic_500_and_logged_with_request_id(
    client, admin_headers, engine, caplog
):
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE api_keys RENAME COLUMN prefix TO prefix_gone"))
    try:
        # Authentication (cached) still works; the listing query then hits a broken schema.
        response = await client.get("/v1/api-keys", headers={**admin_headers, "X-Request-ID": "boom-1"})
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE api_keys RENAME COLUMN prefix_gone TO prefix"))
    body = assert_problem(response, 500, "internal-error")
    assert "prefix" not in response.text
    assert "Traceback" not in response.text
    assert "sqlalchemy" not in response.text.lower()
    logged = [
        r for r in caplog.records if r.name == "api.errors" and getattr(r, "request_id", None) == "boom-1"
    ]
    assert logged
    assert logged[0].exc_info is not None
    assert body["request_id"] == "boom-1"


@pytest.mark.parametrize("method", ["get", "post"])
async def test_missing_key_is_401_with_challenge(client, method):
    response = await getattr(client, method)("/v1/api-keys")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_empty_body_says_a_body_is_required(client, admin_headers):
    response = await client.post(
        "/v1/api-keys", content=b"", headers={**admin_headers, "content-type": "application/json"}
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [
        {"location": "body", "path": "$", "message": "A JSON request body is required."}
    ]


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (NotFound("Ticket 7 does not exist."), 404, "not-found"),
        (Conflict("Email already in use."), 409, "conflict"),
        (InvalidTransition("closed is terminal", rule="closed-is-terminal"), 409, "invalid-transition"),
        (PreconditionFailed("Ticket changed since you read it."), 412, "precondition-failed"),
        (Forbidden("Not yours."), 403, "forbidden"),
        (Unprocessable("bad", errors=[FieldError("body", "$.x", "wrong")]), 422, "validation-error"),
    ],
)
async def test_domain_errors_map_to_problems(error, status, slug):
    """The single edge mapping, exercised through a throwaway route that raises each domain error."""
    from litestar import Litestar, get

    from api.errors import EXCEPTION_HANDLERS

    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise error

    app = Litestar([boom], exception_handlers=EXCEPTION_HANDLERS, logging_config=None)
    async with AsyncTestClient(app) as client:
        response = await client.get("/boom")
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == PREFIX + slug
    assert body["detail"] == error.detail
    if error.rule:
        assert body["rule"] == error.rule
    if error.errors:
        assert body["errors"] == [{"location": "body", "path": "$.x", "message": "wrong"}]


async def test_values_the_database_cannot_store_are_422_not_500(client, admin_headers):
    # PostgreSQL text cannot hold NUL; msgspec accepts it, so the database is the one to refuse.
    response = await client.post(
        "/v1/api-keys", json={"name": "bad\u0000name", "role": "agent"}, headers=admin_headers
    )
    body = assert_problem(response, 422, "validation-error")
    assert "NUL" in body["detail"]
