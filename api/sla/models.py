"""SLA policy tables (the schema lives in the migrations; these mirror it for Alembic's comparison)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, Integer, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class SlaPolicy(Base):
    __tablename__ = "sla_policies"
    __table_args__ = (Index("ix_sla_policies_position", "position", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, server_default=func.gen_random_uuid())
    name: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("business_calendars.id"))
    """Deleting a calendar a policy uses is refused (409): the default ON DELETE NO ACTION."""
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    targets: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaPolicyVersion(Base):
    """Every version of every policy, as it was: tickets record the version that applies to them."""

    __tablename__ = "sla_policy_versions"

    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sla_policies.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaReevaluation(Base):
    """A pass over the open tickets after a change of what hooks depend on (a policy, a calendar, a
    setting), in batches, resumable by cursor (``api/tickets/reevaluation.py``; the name is historical)."""

    __tablename__ = "sla_reevaluations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    after_ticket_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    started_after_ticket_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Where the pass started (it took over an older pass's place); it wraps around to end there."""
    wrapped: Mapped[bool] = mapped_column(Boolean, server_default="false")
    tickets_changed: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
