"""The per-process key cache: no database round trip at steady state, prompt revocation across processes."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from tests.conftest import app_client, litestar_app, make_key


def _cache(client):
    return litestar_app(client).state.api_key_cache


async def test_steady_state_authentication_skips_the_database(client, admin_headers):
    cache = _cache(client)
    for _ in range(5):
        assert (await client.get("/v1/api-keys", headers=admin_headers)).status_code == 200
    assert cache.lookups_from_db == 1


async def test_revocation_in_one_process_evicts_the_key_in_another(settings, engine):
    """Two app instances stand in for two API processes: each has its own cache and LISTEN connection."""
    victim = await make_key(engine, "admin", name="victim")
    admin = await make_key(engine, "admin", name="admin")
    victim_headers = {"Authorization": f"Bearer {victim}"}
    async with app_client(settings) as first, app_client(settings) as second:
        assert (await second.get("/v1/api-keys", headers=victim_headers)).status_code == 200
        listed = (await first.get("/v1/api-keys", headers={"Authorization": f"Bearer {admin}"})).json()
        victim_id = next(k["id"] for k in listed["data"] if k["name"] == "victim")
        before = _cache(second).lookups_from_db

        revoked = await first.post(
            f"/v1/api-keys/{victim_id}/revoke", headers={"Authorization": f"Bearer {admin}"}
        )
        assert revoked.status_code == 200

        # NOTIFY is delivered asynchronously after commit: poll with a deadline rather than sleeping.
        deadline = time.monotonic() + 5
        while True:
            status = (await second.get("/v1/api-keys", headers=victim_headers)).status_code
            if status == 401 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        assert status == 401
        assert _cache(second).lookups_from_db > before


async def test_lost_listener_drops_cached_keys(client, engine):
    """A revocation the cache could not hear about (listener down) must not keep a key alive."""
    victim = await make_key(engine, "admin", name="victim")
    headers = {"Authorization": f"Bearer {victim}"}
    assert (await client.get("/v1/api-keys", headers=headers)).status_code == 200
    async with engine.begin() as conn:  # revoke behind the API's back: no NOTIFY is sent
        await conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE name = 'victim'"))
    assert (await client.get("/v1/api-keys", headers=headers)).status_code == 200  # served from cache

    async with engine.begin() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'helpdesk-listen'"
            )
        )
    assert killed >= 1
    deadline = time.monotonic() + 5
    while (status := (await client.get("/v1/api-keys", headers=headers)).status_code) == 200:
        assert time.monotonic() < deadline, "cached key survived the loss of the listener"
        await asyncio.sleep(0.01)
    assert status == 401
