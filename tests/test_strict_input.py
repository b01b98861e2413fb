"""Strict, predictable input: typos, repeats and wrong media types are refused, never silently ignored."""

from __future__ import annotations

import hashlib

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.db import asyncpg_dsn
from api.idempotency import _lock_id
from tests.conftest import make_key
from tests.test_errors import assert_problem
from tests.tickets.helpers import create_ticket

TICKET = {"subject": "s", "message": "m", "requester_email": "a@b.c"}


async def test_unknown_query_parameter_is_422_naming_it(client, admin_headers):
    await create_ticket(client, admin_headers, tags=["billing"])
    r = await client.get("/v1/tickets", params={"tga": "billing"}, headers=admin_headers)
    body = assert_problem(r, 422, "validation-error")
    (error,) = body["errors"]
    assert (error["location"], error["path"]) == ("query", "tga")
    assert "tag" in error["message"]  # it lists what the operation does take


async def test_every_operation_refuses_unknown_query_parameters(client, admin_headers):
    for path in ("/v1/customers", "/v1/agents", "/v1/groups", "/v1/events", "/v1/webhooks/endpoints"):
        r = await client.get(path, params={"limit": 5, "nope": "1"}, headers=admin_headers)
        assert_problem(r, 422, "validation-error")
        assert [e["path"] for e in r.json()["errors"]] == ["nope"], path


async def test_repeated_single_valued_parameter_is_422(client, admin_headers):
    r = await client.get("/v1/tickets?sort=created&sort=-created", headers=admin_headers)
    body = assert_problem(r, 422, "validation-error")
    assert [(e["location"], e["path"]) for e in body["errors"]] == [("query", "sort")]


async def test_repeatable_parameters_still_take_several_values(client, admin_headers):
    await create_ticket(client, admin_headers, priority="high")
    await create_ticket(client, admin_headers, priority="low")
    r = await client.get("/v1/tickets?priority=high&priority=low&limit=10", headers=admin_headers)
    assert r.status_code == 200, r.text
    assert {t["priority"] for t in r.json()["data"]} == {"high", "low"}


async def test_empty_idempotency_key_is_422(client, admin_headers):
    r = await client.post("/v1/tickets", json=TICKET, headers={**admin_headers, "Idempotency-Key": ""})
    body = assert_problem(r, 422, "validation-error")
    assert body["errors"][0]["location"] == "header"
    assert (await client.get("/v1/tickets", headers=admin_headers)).json()["data"] == []


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]
)
async def test_non_json_body_is_415(client, admin_headers, content_type):
    r = await client.post(
        "/v1/tickets", content=b"subject=s&message=m", headers={**admin_headers, "Content-Type": content_type}
    )
    body = assert_problem(r, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]


async def test_json_media_types_are_accepted(client, admin_headers):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        r = await client.post(
            "/v1/tickets",
            content=msgspec.json.encode(TICKET),
            headers={**admin_headers, "Content-Type": content_type},
        )
        assert r.status_code == 201, (content_type, r.text)


async def test_413_says_the_limit(settings, engine):
    small = msgspec.structs.replace(settings, max_body_bytes=64)
    headers = {"Authorization": f"Bearer {await make_key(engine)}"}
    async with AsyncTestClient(create_app(small)) as client:
        r = await client.post("/v1/customers", json={"name": "x" * 200, "email": "a@b.c"}, headers=headers)
    body = assert_problem(r, 413, "payload-too-large")
    assert "64 bytes" in body["detail"]


async def test_if_none_match_with_the_current_etag_is_304(client, admin_headers):
    ticket = await create_ticket(client, admin_headers)
    url = f"/v1/tickets/{ticket['id']}"
    first = await client.get(url, headers=admin_headers)
    etag = first.headers["etag"]
    for sent in (etag, f"W/{etag}", f'"999", {etag}', "*"):
        r = await client.get(url, headers={**admin_headers, "If-None-Match": sent})
        assert r.status_code == 304, sent
        assert r.content == b""
        assert r.headers["etag"] == etag
    await client.patch(url, json={"priority": "urgent"}, headers=admin_headers)
    changed = await client.get(url, headers={**admin_headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["priority"] == "urgent"


@pytest.mark.parametrize(
    ("path", "body", "admin"),
    [
        ("/v1/tickets", TICKET, False),
        ("/v1/customers", {"name": "A", "email": "a@b.c"}, False),
        ("/v1/agents", {"name": "A", "email": "a@b.c"}, True),
        ("/v1/groups", {"name": "G"}, True),
        ("/v1/api-keys", {"name": "ci", "role": "agent"}, True),
        ("/v1/webhooks/endpoints", {"url": "https://hooks.example.com/x"}, True),
    ],
)
async def test_creates_send_location_also_on_replay(client, admin_headers, agent, path, body, admin):
    headers = admin_headers if admin else agent[1]
    r = await client.post(path, json=body, headers={**headers, "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    assert location == f"{path}/{r.json()['id']}"
    assert (await client.get(location, headers=admin_headers)).status_code == 200
    if path != "/v1/api-keys":  # createApiKey takes no Idempotency-Key (README)
        again = await client.post(path, json=body, headers={**headers, "Idempotency-Key": "k1"})
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["location"] == location


async def test_concurrent_duplicate_idempotency_key_is_409(client, engine, database_url):
    """What the README promises: a duplicate arriving while the first request runs gets 409 at once."""
    token = await make_key(engine, "admin", name="concurrent")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "in-flight"}
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        key_id = await conn.fetchval(
            "SELECT id FROM api_keys WHERE token_hash = $1", hashlib.sha256(token.encode()).digest()
        )
        # The first request holds this lock for its whole transaction; here a connection plays it.
        await conn.execute("SELECT pg_advisory_lock($1)", _lock_id(key_id, "in-flight"))
        r = await client.post("/v1/tickets", json=TICKET, headers=headers)
        assert_problem(r, 409, "conflict")
        assert "in progress" in r.json()["detail"]
        await conn.execute("SELECT pg_advisory_unlock_all()")
    finally:
        await conn.close()
    # Once the first request is done, the key works (here nothing was stored, so the work runs).
    assert (await client.post("/v1/tickets", json=TICKET, headers=headers)).status_code == 201
