"""Tables for tickets and their comments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base

PRIORITY_RANK_SQL = "CASE priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 ELSE 3 END"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(
            "status IN ('new', 'open', 'pending', 'on_hold', 'resolved', 'closed')", name="status"
        ),
        CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name="priority"),
        CheckConstraint("channel IN ('api', 'email', 'web', 'chat', 'phone')", name="channel"),
        # Lists find a page of ids with an index-only scan (status and tags filtered in the index), then
        # fetch those rows: see queries.py.
        Index("ix_tickets_created", "created_at", "id", postgresql_include=["status", "tags"]),
        Index("ix_tickets_updated", "updated_at", "id"),
        Index("ix_tickets_priority", "priority_rank", "id"),
        Index("ix_tickets_status_created", "status", "created_at", "id", postgresql_include=["tags"]),
        # An agent's queue is a few thousand rows: read in order from this index, filtered by status.
        Index("ix_tickets_assignee_created", "assignee_id", "created_at", "id"),
        # …and one status of it, even when that status has no ticket (no scan of the whole queue).
        Index("ix_tickets_assignee_status_created", "assignee_id", "status", "created_at", "id"),
        Index("ix_tickets_tags", "tags", postgresql_using="gin"),
        Index("ix_tickets_search", "search", postgresql_using="gin"),
        # Lists sort by the next SLA due instant (none: last) and filter on it with the same expression.
        Index("ix_tickets_sla_due", text("(coalesce(sla_due_at, 'infinity'::timestamptz))"), "id"),
        Index("ix_tickets_sla_breached", "id", postgresql_where=text("sla_breached")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="new")
    priority: Mapped[str] = mapped_column(Text, server_default="normal")
    # Sorting by priority must follow urgency, not the alphabet; a stored rank keeps that indexable.
    priority_rank: Mapped[int] = mapped_column(SmallInteger, Computed(PRIORITY_RANK_SQL, persisted=True))
    channel: Mapped[str] = mapped_column(Text, server_default="api")
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id"), index=True)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    external_ref: Mapped[str | None] = mapped_column(Text)
    follow_up_of: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    """Counts edits (what ``If-Match`` guards): a change a caller, a timer's feature or a rule makes."""
    state_revision: Mapped[int] = mapped_column(Integer, server_default="0")
    """Changes nobody edits (an SLA moment, a re-evaluation) since the last edit; the ETag covers it."""
    # Subject and every comment, maintained on write so `q=` is one GIN index lookup.
    search: Mapped[Any] = mapped_column(TSVECTOR)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    first_agent_reply_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sla: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """The ticket's SLA state (``api.sla.schemas.TicketSla``), written by the SLA hook."""
    sla_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """The next instant a running SLA metric falls due (lists filter and sort by it)."""
    sla_breached: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Instants and a count that rule conditions read (api/conditions): kept by the write path (service.py,
    # comments.py), backfilled by migration 0345.
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_customer_message_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """The customer's last public comment (the initial message included)."""
    last_agent_reply_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """An agent's last public comment."""
    comment_count: Mapped[int] = mapped_column(Integer, server_default="0")


class TicketTag(Base):
    """Each tag of each ticket with its status and creation instant: the order of a tag's list.

    Written only by triggers on ``tickets`` (migration 0330), read by ``queries.py``.
    """

    __tablename__ = "ticket_tags"

    tag: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint("author_type IN ('agent', 'customer', 'system')", name="author_type"),
        Index("ix_comments_ticket", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    author_type: Mapped[str] = mapped_column(Text)
    author_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    author_customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))
    public: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SeamSetting(Base):
    """A setting hooks depend on (the auto-close delay), as last applied to the open tickets."""

    __tablename__ = "seam_settings"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
