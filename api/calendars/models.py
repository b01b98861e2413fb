"""Business calendar tables: the current calendar, and every version of it.

The SLA engine records which calendar version a due time was computed with; ``business_calendar_versions``
keeps each version's rules (append-only) so such a computation can be explained, or repeated, later.
Tables that come to depend on a calendar (SLA policies) reference ``business_calendars.id`` without
``ON DELETE CASCADE``, so deleting a calendar in use fails and the API answers 409.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class BusinessCalendar(Base):
    __tablename__ = "business_calendars"
    __table_args__ = (CheckConstraint("version > 0", name="version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    name: Mapped[str] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(Text)
    always_open: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # [{"day": "monday", "start": "09:00", "end": "17:00"}], in the order the client gave them.
    weekly: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # [{"date": "2025-12-25", "yearly": true, "name": "Christmas"}], sorted by date.
    holidays: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BusinessCalendarVersion(Base):
    __tablename__ = "business_calendar_versions"

    calendar_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("business_calendars.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    time_zone: Mapped[str] = mapped_column(Text)
    always_open: Mapped[bool] = mapped_column(Boolean)
    weekly: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    holidays: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
