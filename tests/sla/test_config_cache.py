"""The SLA configuration a process keeps: one object while policies and calendars stay the same."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from api.db import asyncpg_dsn
from tests.calendars.test_routes import URL, create
from tests.conftest import app_client, litestar_app
from tests.sla.test_sla import POLICIES, URGENT


async def test_the_configuration_is_kept_until_a_policy_or_calendar_changes(
    settings, database_url, admin_headers
):
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with app_client(settings) as client:
            calendar = await create(client, admin_headers)
            policy = {**URGENT, "calendar_id": calendar["id"]}
            assert (await client.post(POLICIES, json=policy, headers=admin_headers)).status_code == 201
            state = litestar_app(client).state

            async def current():
                return await state.sla_cache.get_with_calendars(conn, state.calendar_cache)

            async def changes_to(predicate, what: str):
                """Poll until the configuration meets ``predicate`` and is kept (both listeners up)."""
                deadline = time.monotonic() + 5
                while not (predicate(found := await current()) and await current() is found):
                    assert time.monotonic() < deadline, what
                    await asyncio.sleep(0.01)
                return found

            first = await changes_to(lambda c: bool(c.calendars), "no calendar")
            assert await current() is first
            [(calendar_id, clock)] = first.calendars.items()
            assert str(calendar_id) == calendar["id"]
            assert clock.version == 1

            r = await client.patch(
                f"{URL}/{calendar['id']}", json={"time_zone": "Europe/Berlin"}, headers=admin_headers
            )
            assert r.status_code == 200, r.text
            second = await changes_to(lambda c: c.calendars[calendar_id].version == 2, "kept calendar v1")
            assert second is not first
            assert second.policies is first.policies
            assert await current() is second

            r = await client.post(POLICIES, json={**URGENT, "name": "second"}, headers=admin_headers)
            assert r.status_code == 201, r.text
            third = await changes_to(lambda c: len(c.policies) == 2, "kept one policy")
            assert await current() is third
    finally:
        await conn.close()
