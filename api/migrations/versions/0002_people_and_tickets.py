"""customers, groups, tickets and comments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_NOW = sa.func.now()


def _timestamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), server_default=sa.func.gen_random_uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("locale", sa.Text(), nullable=True),
        sa.Column("time_zone", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("external_id", name=op.f("uq_customers_external_id")),
    )
    op.create_index("uq_customers_lower_email", "customers", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), server_default=sa.func.gen_random_uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    op.create_index("uq_groups_lower_name", "groups", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_group_members_agent_id_agents")),
        sa.PrimaryKeyConstraint("group_id", "agent_id", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_agent_id"), "group_members", ["agent_id"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="new", nullable=False),
        sa.Column("priority", sa.Text(), server_default="normal", nullable=False),
        sa.Column(
            "priority_rank",
            sa.SmallInteger(),
            sa.Computed(
                "CASE priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 ELSE 3 END",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("channel", sa.Text(), server_default="api", nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("external_ref", sa.Text(), nullable=True),
        sa.Column("follow_up_of", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("search", postgresql.TSVECTOR(), nullable=False),
        *_timestamps(),
        sa.Column("first_agent_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('new', 'open', 'pending', 'on_hold', 'resolved', 'closed')",
            name=op.f("ck_tickets_status"),
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("ck_tickets_priority")
        ),
        sa.CheckConstraint(
            "channel IN ('api', 'email', 'web', 'chat', 'phone')", name=op.f("ck_tickets_channel")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["customers.id"], name=op.f("fk_tickets_requester_id_customers")
        ),
        sa.ForeignKeyConstraint(["assignee_id"], ["agents.id"], name=op.f("fk_tickets_assignee_id_agents")),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_tickets_group_id_groups")),
        sa.ForeignKeyConstraint(
            ["follow_up_of"], ["tickets.id"], name=op.f("fk_tickets_follow_up_of_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index(
        "ix_tickets_created", "tickets", ["created_at", "id"], postgresql_include=["status", "tags"]
    )
    op.create_index("ix_tickets_updated", "tickets", ["updated_at", "id"])
    op.create_index("ix_tickets_priority", "tickets", ["priority_rank", "id"])
    op.create_index(
        "ix_tickets_status_created", "tickets", ["status", "created_at", "id"], postgresql_include=["tags"]
    )
    op.create_index("ix_tickets_assignee_created", "tickets", ["assignee_id", "created_at", "id"])
    op.create_index(
        "ix_tickets_assignee_status_created", "tickets", ["assignee_id", "status", "created_at", "id"]
    )
    op.create_index(op.f("ix_tickets_requester_id"), "tickets", ["requester_id"])
    op.create_index(op.f("ix_tickets_group_id"), "tickets", ["group_id"])
    op.create_index(op.f("ix_tickets_follow_up_of"), "tickets", ["follow_up_of"])
    op.create_index("ix_tickets_tags", "tickets", ["tags"], postgresql_using="gin")
    op.create_index("ix_tickets_search", "tickets", ["search"], postgresql_using="gin")
    op.create_table(
        "comments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("author_type", sa.Text(), nullable=False),
        sa.Column("author_agent_id", sa.Uuid(), nullable=True),
        sa.Column("author_customer_id", sa.Uuid(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "author_type IN ('agent', 'customer', 'system')", name=op.f("ck_comments_author_type")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_comments_ticket_id_tickets")),
        sa.ForeignKeyConstraint(
            ["author_agent_id"], ["agents.id"], name=op.f("fk_comments_author_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["author_customer_id"], ["customers.id"], name=op.f("fk_comments_author_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index("ix_comments_ticket", "comments", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_table("comments")
    op.drop_table("tickets")
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("customers")
