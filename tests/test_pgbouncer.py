"""The service behind a real PgBouncer in transaction mode (``HELPDESK_DB_PGBOUNCER=transaction``).

Every pooled connection goes through PgBouncer, whose two server connections all clients share; LISTEN
goes straight to PostgreSQL (``HELPDESK_DIRECT_DATABASE_URL``). Writes, reads, webhook delivery, timers
and cross-process cache invalidation must all keep working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import msgspec
import pytest

from api.db import asyncpg_dsn
from api.settings import Settings, load_settings
from tests.conftest import app_client, make_key
from tests.servers import pgbouncer, pgbouncer_binary
from tests.tickets.helpers import create_ticket
from tests.webhooks.conftest import LOOPBACK_SETTINGS, eventually
from tests.webhooks.helpers import create_endpoint
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.skipif(
    pgbouncer_binary() is None, reason="pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)"
)


@pytest.fixture(scope="module")
def bouncer_url(database_url: str) -> Iterator[str]:
    with pgbouncer(database_url) as url:
        yield url


@pytest.fixture
def bounced(settings: Settings, bouncer_url: str, database_url: str) -> Settings:
    return msgspec.structs.replace(
        settings,
        database_url=bouncer_url,
        direct_database_url=database_url,
        db_pgbouncer="transaction",
        run_worker=True,
        auto_close_after_seconds=1.0,
        **LOOPBACK_SETTINGS,
    )


async def test_the_fixture_breaks_named_prepared_statements(bouncer_url):
    """Without the setting, a statement asyncpg prepared (named, cached) lives on one server connection,
    and the next transaction may get another: the fixture really exercises the hazard the setting avoids."""
    holder, client = [await asyncpg.connect(asyncpg_dsn(bouncer_url)) for _ in range(2)]
    try:
        assert await client.fetchval("SELECT $1::int + 1", 1) == 2  # prepared on the last used server
        async with holder.transaction():
            await holder.fetchval("SELECT 1")  # keeps that server connection for itself
            with pytest.raises(asyncpg.PostgresError, match="prepared statement"):
                await client.fetchval("SELECT $1::int + 1", 1)  # on the other server: no such statement
    finally:
        holder.terminate()
        client.terminate()


async def test_writes_and_reads_under_concurrency(bounced, agent):
    _, headers = agent
    async with app_client(bounced) as client:
        tickets = await asyncio.gather(
            *(create_ticket(client, headers, subject=f"through the bouncer {i}") for i in range(24))
        )

        async def touch(ticket: dict[str, object]) -> None:
            path = f"/v1/tickets/{ticket['id']}"
            assert (await client.patch(path, json={"priority": "high"}, headers=headers)).status_code == 200
            assert (await client.get(path, headers=headers)).status_code == 200
            r = await client.post(
                f"{path}/comments", json={"body": "hello", "public": False}, headers=headers
            )
            assert r.status_code == 201, r.text
            listed = await client.get("/v1/tickets", params={"priority": "high"}, headers=headers)
            assert listed.status_code == 200
            assert (await client.get(f"{path}/events", headers=headers)).status_code == 200

        await asyncio.gather(*(touch(t) for t in tickets))
        listed = await client.get("/v1/tickets", params={"limit": 100, "priority": "high"}, headers=headers)
        assert {t["id"] for t in listed.json()["data"]} == {t["id"] for t in tickets}


async def test_webhooks_and_timers_fire_through_the_bouncer(bounced, engine, agent):
    """A resolve sends ticket.resolved; the auto-close timer (1 s) fires, woken by NOTIFY, well before the
    30 s fallback poll."""
    agent_id, agent_headers = agent
    admin = {"Authorization": f"Bearer {await make_key(engine, 'admin')}"}
    async with Receiver() as receiver, app_client(bounced) as client:
        await create_endpoint(
            client, admin, url=receiver.url, event_types=["ticket.resolved", "ticket.closed"]
        )
        ticket = await create_ticket(client, agent_headers, assignee_id=str(agent_id))
        r = await client.patch(
            f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=agent_headers
        )
        assert r.status_code == 200, r.text

        def types() -> list[str]:
            return [msgspec.json.decode(req.body)["type"] for req in receiver.requests]

        async def closed_and_sent() -> bool:
            return "ticket.resolved" in types() and "ticket.closed" in types()

        await eventually(closed_and_sent, within=15, what="ticket.resolved and ticket.closed deliveries")
        got = await client.get(f"/v1/tickets/{ticket['id']}", headers=agent_headers)
        assert got.json()["status"] == "closed"


async def test_revocation_reaches_another_process_through_listen(bounced, engine):
    victim = await make_key(engine, "admin", name="victim")
    admin = await make_key(engine, "admin", name="admin")
    victim_headers = {"Authorization": f"Bearer {victim}"}
    async with app_client(bounced) as first, app_client(bounced) as second:
        assert (await second.get("/v1/api-keys", headers=victim_headers)).status_code == 200
        listed = (await first.get("/v1/api-keys", headers={"Authorization": f"Bearer {admin}"})).json()
        victim_id = next(k["id"] for k in listed["data"] if k["name"] == "victim")
        revoked = await first.post(
            f"/v1/api-keys/{victim_id}/revoke", headers={"Authorization": f"Bearer {admin}"}
        )
        assert revoked.status_code == 200

        async def refused() -> bool:
            return (await second.get("/v1/api-keys", headers=victim_headers)).status_code == 401

        await eventually(refused, within=5, what="the revoked key refused by the other process")


def test_transaction_mode_needs_a_direct_url_for_listen():
    with pytest.raises(SystemExit, match="HELPDESK_DIRECT_DATABASE_URL"):
        load_settings({"DATABASE_URL": "postgresql://h/db", "HELPDESK_DB_PGBOUNCER": "transaction"})
