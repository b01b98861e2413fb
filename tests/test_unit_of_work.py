"""One commit point per request, before the response: a failed COMMIT is never answered with a 2xx."""

from __future__ import annotations

import pytest
from sqlalchemy import text

FAIL_AT_COMMIT = """
CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON api_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();
"""


async def test_failed_commit_answers_500_and_stores_nothing(client, admin_headers, engine):
    # A deferred constraint trigger runs at COMMIT, after the handler has produced its 201.
    async with engine.begin() as conn:
        for statement in FAIL_AT_COMMIT.split(";\n"):
            if statement.strip():
                await conn.execute(text(statement))
    try:
        response = await client.post(
            "/v1/api-keys", json={"name": "doomed", "role": "agent"}, headers=admin_headers
        )
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER fail_at_commit ON api_keys"))
            await conn.execute(text("DROP FUNCTION fail_at_commit()"))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "token" not in response.json()
    assert "refused at commit" not in response.text
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM api_keys WHERE name = 'doomed'")) == 0


async def test_successful_write_is_committed_before_the_response(client, admin_headers, engine):
    response = await client.post(
        "/v1/api-keys", json={"name": "kept", "role": "agent"}, headers=admin_headers
    )
    assert response.status_code == 201
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM api_keys WHERE name = 'kept'")) == 1


FAIL_TICKETS_AT_COMMIT = FAIL_AT_COMMIT.replace("ON api_keys", "ON tickets")


async def _count(engine, table):
    async with engine.connect() as conn:
        return await conn.scalar(text(f"SELECT count(*) FROM {table}"))


@pytest.mark.parametrize("idempotency_key", [None, "create-once"])
async def test_ticket_creation_refused_at_commit_answers_500_and_stores_nothing(
    client, agent, engine, idempotency_key
):
    """Without a key, creation is one statement run on its own (no BEGIN/COMMIT); with one, it runs in the
    request's transaction. Either way the commit decides, before the response, and stores all or nothing."""
    _, headers = agent
    if idempotency_key:
        headers = {**headers, "Idempotency-Key": idempotency_key}
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO webhook_endpoints (url, secret) "
                "VALUES ('https://hooks.example.com/x', 'whsec_dGVzdA==')"
            )
        )
        for statement in FAIL_TICKETS_AT_COMMIT.split(";\n"):
            if statement.strip():
                await conn.execute(text(statement))
    try:
        response = await client.post(
            "/v1/tickets",
            json={"subject": "s", "message": "m", "requester_email": "new.person@example.com"},
            headers=headers,
        )
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER fail_at_commit ON tickets"))
            await conn.execute(text("DROP FUNCTION fail_at_commit()"))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    for table in ("tickets", "comments", "customers", "events", "webhook_messages", "webhook_deliveries"):
        assert await _count(engine, table) == 0, table
    assert await _count(engine, "idempotency_keys") == 0
