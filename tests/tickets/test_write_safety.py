"""ETag / If-Match and Idempotency-Key."""

import asyncio
import hashlib

import asyncpg

from api.db import asyncpg_dsn
from tests.tickets.helpers import create_ticket


async def test_stale_if_match_is_412_and_fresh_one_succeeds(client, agent, other_agent):
    _, headers = agent
    _, other_headers = other_agent
    t = await create_ticket(client, headers)
    url = f"/v1/tickets/{t['id']}"
    etag = (await client.get(url, headers=headers)).headers["etag"]
    # Someone else changes the ticket first.
    r = await client.patch(url, json={"priority": "high"}, headers={**other_headers, "If-Match": etag})
    assert r.status_code == 200
    r = await client.patch(url, json={"priority": "low"}, headers={**headers, "If-Match": etag})
    assert r.status_code == 412
    assert r.json()["type"] == "urn:helpdesk:problem:precondition-failed"
    assert r.headers["etag"] == '"2"'
    assert (await client.get(url, headers=headers)).json()["priority"] == "high"
    r = await client.patch(url, json={"priority": "low"}, headers={**headers, "If-Match": '"2"'})
    assert r.status_code == 200
    assert r.headers["etag"] == '"3"'
    r = await client.patch(url, json={"priority": "urgent"}, headers={**headers, "If-Match": "*"})
    assert r.status_code == 200
    r = await client.patch(url, json={"priority": "urgent"}, headers={**headers, "If-Match": "garbage"})
    assert r.status_code == 412


async def test_if_match_on_comments(client, agent):
    _, headers = agent
    t = await create_ticket(client, headers)
    url = f"/v1/tickets/{t['id']}/comments"
    r = await client.post(url, json={"body": "x"}, headers={**headers, "If-Match": '"7"'})
    assert r.status_code == 412
    r = await client.post(url, json={"body": "x"}, headers={**headers, "If-Match": '"1"'})
    assert r.status_code == 201


async def test_concurrent_patches_never_lose_an_update(client, agent):
    _, headers = agent
    t = await create_ticket(client, headers)
    url = f"/v1/tickets/{t['id']}"
    tags = [f"t{i}" for i in range(8)]
    results = await asyncio.gather(
        *(client.patch(url, json={"tags": [tag]}, headers={**headers, "If-Match": '"1"'}) for tag in tags)
    )
    assert sorted(r.status_code for r in results) == [200] + [412] * 7


async def test_idempotent_retry_returns_the_original_response(client, agent):
    _, headers = agent
    body = {"subject": "s", "message": "m", "requester_email": "a@b.c"}
    keyed = {**headers, "Idempotency-Key": "create-1"}
    first = await client.post("/v1/tickets", json=body, headers=keyed)
    assert first.status_code == 201
    again = await client.post("/v1/tickets", json=body, headers=keyed)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    listed = (await client.get("/v1/tickets", params={"include_total": "true"}, headers=headers)).json()
    assert listed["total"] == 1
    r = await client.post("/v1/tickets", json={**body, "subject": "other"}, headers=keyed)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "header"


async def test_idempotency_keys_are_per_api_key(client, agent, other_agent):
    body = {"subject": "s", "message": "m", "requester_email": "a@b.c"}
    for _, headers in (agent, other_agent):
        r = await client.post("/v1/tickets", json=body, headers={**headers, "Idempotency-Key": "k"})
        assert r.status_code == 201
        assert "idempotent-replayed" not in r.headers
    total = (await client.get("/v1/tickets", params={"include_total": "true"}, headers=agent[1])).json()[
        "total"
    ]
    assert total == 2


async def test_failed_request_is_not_remembered(client, agent):
    _, headers = agent
    keyed = {**headers, "Idempotency-Key": "k"}
    bad = {"subject": "s", "message": "m", "requester_id": "00000000-0000-0000-0000-000000000000"}
    assert (await client.post("/v1/tickets", json=bad, headers=keyed)).status_code == 422
    good = {"subject": "s", "message": "m", "requester_email": "a@b.c"}
    assert (await client.post("/v1/tickets", json=good, headers=keyed)).status_code == 201


async def test_concurrent_duplicate_is_409(client, agent, database_url):
    _, headers = agent
    key_id = await _key_id(database_url, headers)
    lock = int.from_bytes(hashlib.sha256(key_id.bytes + b"dup").digest()[:8], "big", signed=True)
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # Stands in for the first request still running: it holds the key's lock until it commits.
        await holder.execute("BEGIN")
        await holder.execute("SELECT pg_advisory_xact_lock($1)", lock)
        body = {"subject": "s", "message": "m", "requester_email": "a@b.c"}
        r = await client.post("/v1/tickets", json=body, headers={**headers, "Idempotency-Key": "dup"})
        assert r.status_code == 409
        await holder.execute("COMMIT")
        r = await client.post("/v1/tickets", json=body, headers={**headers, "Idempotency-Key": "dup"})
        assert r.status_code == 201
    finally:
        await holder.close()


async def test_keys_expire(client, agent, database_url):
    _, headers = agent
    body = {"subject": "s", "message": "m", "requester_email": "a@b.c"}
    keyed = {**headers, "Idempotency-Key": "old"}
    first = (await client.post("/v1/tickets", json=body, headers=keyed)).json()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        expires = await conn.fetchval("SELECT expires_at - created_at FROM idempotency_keys")
        assert expires.total_seconds() == 24 * 3600
        await conn.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    second = (await client.post("/v1/tickets", json=body, headers=keyed)).json()
    assert second["id"] != first["id"]


async def _key_id(database_url, headers):
    from api.auth.tokens import hash_token

    token = headers["Authorization"].removeprefix("Bearer ")
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await conn.fetchval("SELECT id FROM api_keys WHERE token_hash = $1", hash_token(token))
    finally:
        await conn.close()


async def test_a_clock_ticking_never_makes_if_match_fail_nor_if_none_match_answer_a_stale_state(
    client, admin_headers, agent, engine, settings, database_url
):
    """An SLA moment changes the ticket without anyone editing it: an agent's ``If-Match`` with the
    version they read still holds, but the ``ETag`` moved, so a cached copy is not confirmed (304)."""
    import datetime as dt

    from tests.sla.helpers import age, create_policy, fire_due_timers, metric_of

    _, headers = agent
    await create_policy(client, admin_headers)
    ticket = await create_ticket(client, headers, priority="urgent")
    url = f"/v1/tickets/{ticket['id']}"
    read = await client.get(url, headers=headers)
    etag = read.headers["etag"]
    assert etag == '"1"'
    await age(database_url, ticket["id"], dt.timedelta(minutes=61))  # first response (60 min) overdue
    await fire_due_timers(engine, settings)

    r = await client.get(url, headers={**headers, "If-None-Match": etag})
    assert r.status_code == 200  # not 304: the SLA state changed
    assert metric_of(r.json(), "first_response")["breached_at"] is not None
    assert r.json()["version"] == 1
    assert r.headers["etag"] not in (etag, "")
    assert (await client.get(url, headers={**headers, "If-None-Match": r.headers["etag"]})).status_code == 304

    r = await client.patch(url, json={"subject": "Still on fire"}, headers={**headers, "If-Match": etag})
    assert r.status_code == 200, r.text  # not 412: nobody edited the ticket meanwhile
    assert (r.json()["version"], r.headers["etag"]) == (2, '"2"')
    r = await client.patch(url, json={"subject": "Again"}, headers={**headers, "If-Match": etag})
    assert r.status_code == 412  # an edit happened since
    assert r.headers["etag"] == '"2"'
