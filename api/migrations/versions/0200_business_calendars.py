"""business calendars: opening hours in a time zone, holidays, and every version of them

Revision ID: 0200
Revises: 0100
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision = "0200"
down_revision = "0100"
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _jsonb(name: str, *, default: bool = True) -> sa.Column[object]:
    return sa.Column(
        name, postgresql.JSONB(), server_default=sa.text("'[]'::jsonb") if default else None, nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "business_calendars",
        sa.Column("id", sa.Uuid(), server_default=sa.func.gen_random_uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("always_open", sa.Boolean(), server_default="false", nullable=False),
        _jsonb("weekly"),
        _jsonb("holidays"),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("version > 0", name=op.f("ck_business_calendars_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_calendars")),
    )
    op.create_table(
        "business_calendar_versions",
        sa.Column("calendar_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("always_open", sa.Boolean(), nullable=False),
        _jsonb("weekly", default=False),
        _jsonb("holidays", default=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["business_calendars.id"],
            name=op.f("fk_business_calendar_versions_calendar_id_business_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("calendar_id", "version", name=op.f("pk_business_calendar_versions")),
    )


def downgrade() -> None:
    op.drop_table("business_calendar_versions")
    op.drop_table("business_calendars")
