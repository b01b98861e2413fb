"""sla: policies (every edit a new version) and each ticket's SLA state

Revision ID: 0310
Revises: 0300
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision = "0310"
down_revision = "0300"
branch_labels = None
depends_on = None

_NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Uuid(), server_default=sa.func.gen_random_uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("targets", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["business_calendars.id"],
            name=op.f("fk_sla_policies_calendar_id_business_calendars"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
    )
    op.create_index("ix_sla_policies_position", "sla_policies", ["position", "id"])
    op.create_table(
        "sla_policy_versions",
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["sla_policies.id"], name=op.f("fk_sla_policy_versions_policy_id_sla_policies")
        ),
        sa.PrimaryKeyConstraint("policy_id", "version", name=op.f("pk_sla_policy_versions")),
    )
    op.create_table(
        "sla_reevaluations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("after_ticket_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tickets_changed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_reevaluations")),
    )
    op.add_column("tickets", sa.Column("sla", postgresql.JSONB(), nullable=True))
    op.add_column("tickets", sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("sla_breached", sa.Boolean(), server_default="false", nullable=False))
    op.create_index(
        "ix_tickets_sla_due",
        "tickets",
        [sa.text("(coalesce(sla_due_at, 'infinity'::timestamptz))"), "id"],
    )
    op.create_index("ix_tickets_sla_breached", "tickets", ["id"], postgresql_where=sa.text("sla_breached"))


def downgrade() -> None:
    op.drop_index("ix_tickets_sla_breached", table_name="tickets")
    op.drop_index("ix_tickets_sla_due", table_name="tickets")
    op.drop_column("tickets", "sla_breached")
    op.drop_column("tickets", "sla_due_at")
    op.drop_column("tickets", "sla")
    op.drop_table("sla_reevaluations")
    op.drop_table("sla_policy_versions")
    op.drop_table("sla_policies")
