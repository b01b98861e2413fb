"""seam: timer traces (once per episode), a ticket's state revision, re-evaluation that never starves

- ``timers.fired_at``: a timer that fired and that its hook still declares at the same instant stays as
  the trace that it fired, so re-declaring it does not fire it again (``api/timers/service.py``). The
  due index covers live timers only.
- ``tickets.state_revision``: changes nobody edits (an SLA moment recorded, a re-evaluation) since the
  ticket's last edit. ``version`` counts edits only — what ``If-Match`` guards — and the ``ETag`` of a
  read covers both, so a cached copy is never answered 304 with a stale SLA state.
- ``sla_reevaluations.started_after_ticket_id``/``wrapped``: a newer pass takes over where the pass it
  supersedes had got to and wraps around, so frequent edits cannot keep the tickets at the end of the
  table on an old configuration (``api/tickets/reevaluation.py``).
- ``events.actor_type`` takes ``rule``: a feature's follow-on change is recorded as its own.
- ``seam_settings``: the settings hooks depend on (the auto-close delay) as last applied; a process
  starting with other values asks for a re-evaluation, which re-arms the timers.

Revision ID: 0350_seam
Revises: 0330
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0350_seam"
down_revision = "0345_rules"
branch_labels = None
depends_on = None


_ACTORS = "'agent', 'customer', 'integration', 'system'"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_events_actor_type"), "events", type_="check")
    op.create_check_constraint(op.f("ck_events_actor_type"), "events", f"actor_type IN ({_ACTORS}, 'rule')")
    op.add_column("timers", sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_timers_due_at", table_name="timers")
    op.create_index("ix_timers_due_at", "timers", ["due_at"], postgresql_where=sa.text("fired_at IS NULL"))
    op.add_column("tickets", sa.Column("state_revision", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "sla_reevaluations",
        sa.Column("started_after_ticket_id", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "sla_reevaluations", sa.Column("wrapped", sa.Boolean(), server_default="false", nullable=False)
    )
    op.create_table(
        "seam_settings",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_seam_settings")),
    )


def downgrade() -> None:
    op.drop_table("seam_settings")
    op.drop_column("sla_reevaluations", "wrapped")
    op.drop_column("sla_reevaluations", "started_after_ticket_id")
    op.drop_column("tickets", "state_revision")
    op.execute("DELETE FROM timers WHERE fired_at IS NOT NULL")  # traces were not rows before
    op.drop_index("ix_timers_due_at", table_name="timers")
    op.create_index("ix_timers_due_at", "timers", ["due_at"])
    op.drop_column("timers", "fired_at")
    op.drop_constraint(op.f("ck_events_actor_type"), "events", type_="check")
    op.create_check_constraint(op.f("ck_events_actor_type"), "events", f"actor_type IN ({_ACTORS})")
