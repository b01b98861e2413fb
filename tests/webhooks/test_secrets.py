"""No secret in a log line or a response: a run that provokes errors on the paths that carry secrets
(endpoint registration with custom credentials, recording delivery attempts, a value asyncpg refuses)
is grepped for every secret it handled. The errors must be logged, or the grep proves nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import asyncpg_dsn
from api.observability import configure_logging
from tests.webhooks.conftest import eventually
from tests.webhooks.helpers import ENDPOINTS, create_endpoint, publish_committed, resolved_event, scalar
from tests.webhooks.receiver import Receiver

PARTNER_KEY = "pk_live_7Hq2ZxR9mW3vNc8LtY5sKd"  # a custom header credential in no known token format
TENANT = "tenant-4b1d9e7c-credential"
CUSTOM_HEADERS = {"X-Partner-Key": PARTNER_KEY, "X-Tenant": TENANT}


def log_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def assert_no_secrets(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output, f"{secret!r} leaked"
    assert "whsec_" not in output.replace("whsec_[redacted]", ""), "a signing secret leaked"


@pytest.fixture
async def failing_trigger(engine: AsyncEngine) -> AsyncIterator[object]:
    """Install a trigger that makes writes to a table fail with an internal error, as a broken database
    would: the statement, with its parameters, then fails inside the API."""
    installed: list[str] = []

    async def install(table: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'provoked failure' USING ERRCODE = 'XX000'; END $$"
                )
            )
            await conn.execute(
                text(
                    f"CREATE TRIGGER test_fail BEFORE INSERT ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION test_fail()"
                )
            )
        installed.append(table)

    yield install
    async with engine.begin() as conn:
        for table in installed:
            await conn.execute(text(f"DROP TRIGGER IF EXISTS test_fail ON {table}"))
        await conn.execute(text("DROP FUNCTION IF EXISTS test_fail()"))


async def test_a_failed_registration_logs_no_secret(wh_client, admin_headers, failing_trigger, capsys):
    await failing_trigger("webhook_endpoints")
    response = await wh_client.post(
        ENDPOINTS,
        json={"url": "https://hooks.example.com/x", "headers": {"X-Partner-Key": PARTNER_KEY}},
        headers=admin_headers,
    )
    assert response.status_code == 500
    output = capsys.readouterr().err
    errors = [line for line in log_lines(output) if line["level"] == "error"]
    assert errors, "the failure was not logged"
    assert "provoked failure" in errors[0]["exc"]
    assert "INSERT INTO webhook_endpoints" in errors[0]["exc"]
    assert_no_secrets(output + response.text, PARTNER_KEY, admin_headers["Authorization"].split()[1])


async def test_recording_attempts_that_fails_logs_no_secret(
    wh_client, admin_headers, engine, worker, failing_trigger, capsys
):
    async with Receiver() as receiver:
        endpoint = await create_endpoint(
            wh_client,
            admin_headers,
            url=receiver.url,
            headers={"X-Partner-Key": PARTNER_KEY, "X-Tenant": TENANT},
        )
        await failing_trigger("webhook_attempts")
        await publish_committed(engine, resolved_event())
        (request,) = await receiver.wait_for(1)
        assert request.headers["x-partner-key"] == PARTNER_KEY

        seen: list[str] = []  # readouterr() hands out each piece of output once

        async def logged() -> bool:
            seen.append(capsys.readouterr().err)
            return "recording webhook attempts failed" in "".join(seen)

        await eventually(logged, what="the failed recording to be logged")
    seen.append(capsys.readouterr().err)
    output = "".join(seen)
    assert "provoked failure" in output
    assert_no_secrets(output, PARTNER_KEY, TENANT, endpoint["secret"])


async def test_a_value_asyncpg_refuses_is_not_logged(database_url, capsys):
    configure_logging("INFO")
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        with pytest.raises(asyncpg.DataError) as refused:
            await conn.fetchval("SELECT $1::int", PARTNER_KEY)
    finally:
        await conn.close()
    assert PARTNER_KEY in str(refused.value)  # asyncpg quotes the value: the log must not
    logging.getLogger("api.test").error("statement failed", exc_info=refused.value)
    output = capsys.readouterr().err
    assert "invalid input for query argument $1" in output
    assert_no_secrets(output, PARTNER_KEY)


async def test_custom_header_values_are_write_only(wh_client, admin_headers, engine, worker):
    async with Receiver() as receiver:
        created = await create_endpoint(
            wh_client,
            admin_headers,
            url=receiver.url,
            headers={"X-Partner-Key": PARTNER_KEY, "X-Tenant": TENANT},
        )
        assert created["headers"] == {"X-Partner-Key": "[redacted]", "X-Tenant": "[redacted]"}
        url = f"{ENDPOINTS}/{created['id']}"
        read = (await wh_client.get(url, headers=admin_headers)).json()
        listed = (await wh_client.get(ENDPOINTS, headers=admin_headers)).json()["data"][0]
        assert read["headers"] == listed["headers"] == created["headers"]

        # Read, edit, write back: the masked value keeps the stored one, a new value replaces it.
        headers = {**read["headers"], "X-Tenant": "acme"}
        updated = await wh_client.patch(url, json={"headers": headers}, headers=admin_headers)
        assert updated.status_code == 200, updated.text
        assert PARTNER_KEY not in updated.text
        stored = await scalar(engine, "SELECT headers FROM webhook_endpoints")
        assert stored == {"X-Partner-Key": PARTNER_KEY, "X-Tenant": "acme"}
        unknown = await wh_client.patch(url, json={"headers": {"X-New": "[redacted]"}}, headers=admin_headers)
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["path"] == "$.headers.X-New"

        await publish_committed(engine, resolved_event())
        (request,) = await receiver.wait_for(1)
        assert request.headers["x-partner-key"] == PARTNER_KEY

        async def recorded() -> bool:
            return await scalar(engine, "SELECT count(*) FROM webhook_attempts") == 1

        await eventually(recorded)
        delivery_id = await scalar(engine, "SELECT id FROM webhook_deliveries")
        attempts = await wh_client.get(
            f"/v1/webhooks/deliveries/{delivery_id}/attempts", headers=admin_headers
        )
        assert attempts.status_code == 200, attempts.text
        assert attempts.json()["data"][0]["request_headers"]["X-Partner-Key"] == "[redacted]"
        assert attempts.json()["data"][0]["request_headers"]["X-Tenant"] == "[redacted]"
        assert PARTNER_KEY not in attempts.text
