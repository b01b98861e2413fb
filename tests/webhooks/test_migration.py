"""The webhooks migration matches the models, and downgrades cleanly."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from api.migrations import downgrade, upgrade
from api.models import metadata

WEBHOOK_TABLES = {"webhook_endpoints", "webhook_messages", "webhook_deliveries", "webhook_attempts"}


def _diff(url: str) -> list[object]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from api.db import sqlalchemy_url

    async def run() -> list[object]:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(url: str) -> set[str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from api.db import sqlalchemy_url

    async def run() -> set[str]:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migration_matches_models_and_round_trips(fresh_database):
    url = fresh_database()
    upgrade(url)
    assert _tables(url) >= WEBHOOK_TABLES
    assert [d for d in _diff(url) if "webhook" in repr(d)] == []
    downgrade(url, "0001")
    assert not WEBHOOK_TABLES & _tables(url)
    upgrade(url)
    assert _tables(url) >= WEBHOOK_TABLES
