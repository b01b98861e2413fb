"""Migrations are the only source of schema: they run up and down, and match the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from api.db import sqlalchemy_url
from api.migrations import downgrade, head_revision, upgrade
from api.models import metadata


async def _tables_and_revision(url: str) -> tuple[set[str], str | None]:
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        async with engine.connect() as conn:
            tables = set(
                (
                    await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                ).scalars()
            )
            revision = None
            if "alembic_version" in tables:
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    return tables - {"alembic_version"}, revision


async def _schema_diff(url: str) -> list:
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_database):
    url = fresh_database()
    upgrade(url)
    tables, revision = asyncio.run(_tables_and_revision(url))
    assert revision == head_revision()
    assert set(metadata.tables) <= tables

    downgrade(url, "base")
    tables, revision = asyncio.run(_tables_and_revision(url))
    assert tables == set()
    assert revision is None

    upgrade(url)
    assert asyncio.run(_tables_and_revision(url))[1] == head_revision()


def test_models_match_migrations(database_url):
    assert asyncio.run(_schema_diff(database_url)) == []
