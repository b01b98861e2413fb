"""timers: one table for every scheduled moment (auto-close, SLA warnings and breaches, rule timers)

Replaces ``scheduled_actions``. A timer is live until it fires or is cancelled: firing and cancelling
delete the row, so there is nothing to clean up later, and at most one live timer exists per
(ticket, kind, key). Live ``scheduled_actions`` rows are carried over.

Revision ID: 0300
Revises: 0200
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision = "0300"
down_revision = "0200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), server_default="", nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_timers_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
    )
    op.create_index("ix_timers_due_at", "timers", ["due_at"])
    op.create_index(
        "uq_timers_ticket_kind_key",
        "timers",
        ["ticket_id", "kind", "key"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.execute(
        "INSERT INTO timers (ticket_id, kind, key, due_at, attempts, last_error, created_at) "
        "SELECT DISTINCT ON (ticket_id, kind) ticket_id, kind, '', due_at, attempts, last_error, created_at "
        "FROM scheduled_actions WHERE done_at IS NULL AND cancelled_at IS NULL "
        "ORDER BY ticket_id, kind, due_at"
    )
    op.drop_table("scheduled_actions")


def downgrade() -> None:
    op.create_table(
        "scheduled_actions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_scheduled_actions_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_actions")),
    )
    op.create_index(
        "ix_scheduled_actions_due",
        "scheduled_actions",
        ["due_at"],
        postgresql_where=sa.text("done_at IS NULL AND cancelled_at IS NULL"),
    )
    op.create_index("ix_scheduled_actions_ticket", "scheduled_actions", ["ticket_id", "kind"])
    op.execute(
        "INSERT INTO scheduled_actions (kind, ticket_id, due_at, attempts, last_error, created_at) "
        "SELECT kind, ticket_id, due_at, attempts, last_error, created_at FROM timers"
    )
    op.drop_table("timers")
