"""Migration 0340: keys that the new rules would never have let exist stop working at upgrade."""

from __future__ import annotations

import asyncio

import asyncpg

from api.db import asyncpg_dsn
from api.migrations import upgrade


async def _seed(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:

        async def agent(name: str, role: str, active: bool) -> object:
            return await conn.fetchval(
                "INSERT INTO agents (name, email, role, active) VALUES ($1, $2, $3, $4) RETURNING id",
                name,
                f"{name}@example.com",
                role,
                active,
            )

        async def key(name: str, role: str, agent_id: object) -> object:
            return await conn.fetchval(
                "INSERT INTO api_keys (name, role, prefix, token_hash, agent_id) "
                "VALUES ($1, $2, 'hdk_x', $3, $4) RETURNING id",
                name,
                role,
                name.encode(),
                agent_id,
            )

        gone = await agent("gone", "agent", active=False)
        plain = await agent("plain", "agent", active=True)
        boss = await agent("boss", "admin", active=True)
        return {
            "gone": await key("gone", "agent", gone),
            "plain-admin": await key("plain-admin", "admin", plain),
            "plain-agent": await key("plain-agent", "agent", plain),
            "boss-admin": await key("boss-admin", "admin", boss),
            "integration": await key("integration", "admin", None),
        }
    finally:
        await conn.close()


async def _revoked(url: str) -> dict[str, bool]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT name, revoked_at IS NOT NULL AS revoked, speaks_for_customers FROM api_keys"
        )
    finally:
        await conn.close()
    assert not any(row["speaks_for_customers"] for row in rows)
    return {row["name"]: row["revoked"] for row in rows}


def test_upgrade_revokes_keys_of_deactivated_agents_and_admin_keys_of_plain_agents(fresh_database):
    url = fresh_database()
    upgrade(url, "0330")
    asyncio.run(_seed(url))
    upgrade(url, "0340_trust_api")
    assert asyncio.run(_revoked(url)) == {
        "gone": True,  # reactivating the agent must not revive it
        "plain-admin": True,  # more rights than its agent
        "plain-agent": False,
        "boss-admin": False,
        "integration": False,
    }
