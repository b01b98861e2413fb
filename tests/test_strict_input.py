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


# Issue 16: values are decoded as strictly as the spec states them, in the body and in the query.
LAX_BODIES = [
    (
        "POST",
        "/v1/api-keys",
        {"name": "k", "role": "agent", "speaks_for_customers": 1},
        "$.speaks_for_customers",
    ),
    (
        "POST",
        "/v1/api-keys",
        {"name": "k", "role": "agent", "speaks_for_customers": "true"},
        "$.speaks_for_customers",
    ),
    ("PATCH", "/v1/agents/{agent}", {"active": 0}, "$.active"),
    ("POST", "/v1/tickets/bulk-update", {"ids": ["17"], "changes": {"priority": "low"}}, "$.ids[0]"),
    ("POST", "/v1/tickets/bulk-update", {"ids": [17.0], "changes": {"priority": "low"}}, "$.ids[0]"),
    ("POST", "/v1/tickets/{ticket}/comments", {"body": "x", "public": 0}, "$.public"),
    (
        "POST",
        "/v1/business-calendars/{calendar}/due",
        {"start": "2026-01-05T09:00:00Z", "minutes": "120"},
        "$.minutes",
    ),
    ("POST", "/v1/business-calendars/{calendar}/due", {"start": 0.5, "minutes": 120}, "$.start"),
]


@pytest.fixture
async def things(client, admin_headers, agent):
    agent_id, _ = agent
    ticket = await create_ticket(client, admin_headers)
    r = await client.post(
        "/v1/business-calendars",
        json={"name": "C", "time_zone": "UTC", "always_open": True},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    return {"agent": agent_id, "ticket": ticket["id"], "calendar": r.json()["id"]}


@pytest.mark.parametrize(("method", "path", "body", "field"), LAX_BODIES)
async def test_bodies_are_decoded_strictly(client, admin_headers, things, method, path, body, field):
    r = await client.request(method, path.format(**things), json=body, headers=admin_headers)
    problem = assert_problem(r, 422, "validation-error")
    assert [(e["location"], e["path"]) for e in problem["errors"]] == [("body", field)], r.text


async def test_strict_bodies_still_take_what_the_spec_says(client, admin_headers, things):
    r = await client.post(
        "/v1/business-calendars/{calendar}/due".format(**things),
        json={"start": "2026-01-05T09:00:00Z", "minutes": 120},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/v1/tickets/bulk-update",
        json={
            "ids": [things["ticket"]],
            "changes": {"priority": "low"},
            "versions": {str(things["ticket"]): 1},
        },
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text


LAX_QUERIES = [
    ("/v1/tickets", {"include_total": "1"}, "include_total"),
    ("/v1/tickets", {"include_total": "True"}, "include_total"),
    ("/v1/tickets", {"sla_breached": "0"}, "sla_breached"),
    ("/v1/tickets", {"created_after": "0.5"}, "created_after"),
    ("/v1/tickets", {"updated_before": "1700000000"}, "updated_before"),
    ("/v1/tickets", {"limit": "1e1"}, "limit"),
    ("/v1/tickets", {"limit": "1.0"}, "limit"),
    ("/v1/tickets/{ticket}/comments", {"public": "yes"}, "public"),
    ("/v1/api-keys", {"include_revoked": "1"}, "include_revoked"),
]


@pytest.mark.parametrize(("path", "params", "name"), LAX_QUERIES)
async def test_query_values_are_spelled_as_the_spec_says(client, admin_headers, things, path, params, name):
    r = await client.get(path.format(**things), params=params, headers=admin_headers)
    problem = assert_problem(r, 422, "validation-error")
    assert [(e["location"], e["path"]) for e in problem["errors"]] == [("query", name)], r.text


@pytest.mark.parametrize("raw", ["1_0", "+1", "%D9%A1", "99999999999999999999", "0", "-1"])
async def test_path_ids_are_positive_64_bit_decimal_integers(client, admin_headers, things, raw):
    """`/v1/tickets/1_0` was ticket 10 (Python's int()), `/v1/tickets/%D9%A1` (Arabic-Indic 1) ticket 1."""
    r = await client.get(f"/v1/tickets/{raw}", headers=admin_headers)
    problem = assert_problem(r, 422, "validation-error")
    assert [(e["location"], e["path"]) for e in problem["errors"]] == [("path", "ticket_id")], r.text
    r = await client.get(f"/v1/tickets/{things['ticket']}", headers=admin_headers)
    assert r.status_code == 200


async def test_list_parameters_take_the_comma_form(client, agent):
    _, headers = agent
    a = await create_ticket(client, headers, priority="high")
    b = await create_ticket(client, headers, priority="low")
    await create_ticket(client, headers, priority="normal")
    for query in ("priority=high,low", "priority=high&priority=low", "priority=high,%20low"):
        r = await client.get(f"/v1/tickets?{query}&sort=created", headers=headers)
        assert r.status_code == 200, r.text
        assert [t["id"] for t in r.json()["data"]] == [a["id"], b["id"]], query
    await client.patch(f"/v1/tickets/{a['id']}", json={"priority": "urgent"}, headers=headers)
    r = await client.get("/v1/events?types=ticket.updated,ticket.created", headers=headers)
    assert r.status_code == 200, r.text
    assert {e["type"] for e in r.json()["data"]} <= {"ticket.updated", "ticket.created"}
    r = await client.get("/v1/events?types=ticket.updated,nope", headers=headers)
    problem = assert_problem(r, 422, "validation-error")
    assert problem["errors"][0]["path"] == "types"


async def test_enum_errors_list_the_allowed_values(client, admin_headers, things):
    r = await client.get("/v1/tickets", params={"status": "nope"}, headers=admin_headers)
    (error,) = assert_problem(r, 422, "validation-error")["errors"]
    assert error["path"] == "status"
    assert all(
        value in error["message"] for value in ("new", "open", "pending", "on_hold", "resolved", "closed")
    )
    r = await client.post("/v1/tickets", json={**TICKET, "priority": "asap"}, headers=admin_headers)
    (error,) = assert_problem(r, 422, "validation-error")["errors"]
    assert error["path"] == "$.priority"
    assert all(value in error["message"] for value in ("low", "normal", "high", "urgent"))
    r = await client.post(
        "/v1/tickets/bulk-update", json={"ids": [1], "changes": {"status": "gone"}}, headers=admin_headers
    )
    (error,) = assert_problem(r, 422, "validation-error")["errors"]
    assert (error["path"], "resolved" in error["message"]) == ("$.changes.status", True)
    r = await client.post(
        "/v1/tickets/{ticket}/comments".format(**things),
        json={"body": "x", "author_type": "system"},
        headers=admin_headers,
    )
    (error,) = assert_problem(r, 422, "validation-error")["errors"]
    assert (error["path"], "agent, customer" in error["message"]) == ("$.author_type", True), error


async def test_a_bad_feed_cursor_names_after(client, admin_headers):
    r = await client.get("/v1/events", params={"after": "not-a-cursor"}, headers=admin_headers)
    (error,) = assert_problem(r, 422, "validation-error")["errors"]
    assert (error["location"], error["path"]) == ("query", "after")
