"""The timers table (schema lives in the migrations; this mirrors it for Alembic's comparison)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class Timer(Base):
    """A scheduled moment, at most one per (ticket, kind, key): live until it fires, then the trace that
    it fired (``fired_at``) for as long as its hook declares it at the same instant; a cancel deletes it."""

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_due_at", "due_at", postgresql_where=text("fired_at IS NULL")),
        Index(
            "uq_timers_ticket_kind_key",
            "ticket_id",
            "kind",
            "key",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text, server_default="")
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    fired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
