"""rules: escalation and automation rules (every edit a version), and the ticket instants their conditions read

Rules' time facts compare a ticket instant with a threshold computed from now ("at least 4 business hours
since the status changed"), and ``comment_count`` is a condition field; so the ticket keeps what was
missing: ``status_changed_at``, ``last_customer_message_at`` (public customer comments, the initial
message included), ``last_agent_reply_at`` (public agent comments) and ``comment_count``, written by the
ticket write path from now on and backfilled here from the comments and the status-change events
(a ticket without such an event has kept its status since creation).

Rule previews count tickets by arbitrary conditions; "unassigned new or open tickets" is typical, and the
lifecycle ties the two columns (a new ticket is unassigned, a resolved one assigned). Without knowing that,
the planner underestimates such rows by half and picks a bitmap scan that took twice a parallel scan's time
at 1,000,000 tickets (bench/RESULTS.md); extended statistics tell it. They cost writes nothing.

Revision ID: 0345_rules
Revises: 0330
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision = "0345_rules"
down_revision = "0340_sla_results"
branch_labels = None
depends_on = None

_NOW = sa.func.now()

# One pass over the tickets (an UPDATE that leaves tags, status and created_at alone does not wake the
# ticket_tags trigger).
_BACKFILL = """
WITH c AS (
    SELECT ticket_id, count(*) AS n,
           max(created_at) FILTER (WHERE author_type = 'customer' AND public) AS customer,
           max(created_at) FILTER (WHERE author_type = 'agent' AND public) AS agent
    FROM comments GROUP BY ticket_id
), s AS (
    SELECT ticket_id, max(created_at) AS at FROM events WHERE type = 'ticket.status_changed' GROUP BY ticket_id
)
UPDATE tickets t
SET comment_count = coalesce(c.n, 0), last_customer_message_at = c.customer, last_agent_reply_at = c.agent,
    status_changed_at = coalesce(s.at, t.created_at)
FROM tickets u LEFT JOIN c ON c.ticket_id = u.id LEFT JOIN s ON s.ticket_id = u.id
WHERE u.id = t.id
"""


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Uuid(), server_default=sa.func.gen_random_uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("actions", postgresql.JSONB(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint("trigger IN ('on_change', 'on_time')", name=op.f("ck_rules_trigger")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
    )
    op.create_index("ix_rules_position", "rules", ["position", "id"])
    op.create_table(
        "rule_versions",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_rule_versions_rule_id_rules")),
        sa.PrimaryKeyConstraint("rule_id", "version", name=op.f("pk_rule_versions")),
    )
    op.add_column("tickets", sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("last_customer_message_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("last_agent_reply_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("comment_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(_BACKFILL)
    op.execute(
        "CREATE STATISTICS st_tickets_status_assignee (dependencies, mcv) ON status, assignee_id FROM tickets"
    )


def downgrade() -> None:
    op.execute("DROP STATISTICS st_tickets_status_assignee")
    op.drop_column("tickets", "comment_count")
    op.drop_column("tickets", "last_agent_reply_at")
    op.drop_column("tickets", "last_customer_message_at")
    op.drop_column("tickets", "status_changed_at")
    op.drop_table("rule_versions")
    op.drop_index("ix_rules_position", table_name="rules")
    op.drop_table("rules")
