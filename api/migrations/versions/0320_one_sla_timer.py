"""one SLA timer per ticket: kind ``sla``, due at the earliest warning or breach instant

Replaces the ``sla_warning`` and ``sla_breach`` timers (one per running metric, keyed by metric name):
each ticket's live ones become one ``('sla', '')`` timer at the earliest of them. Firing it records every
moment passed by then and moves it to the next one (``api/sla/hook.py``). The downgrade rebuilds the
per-metric timers from each ticket's stored SLA document, as the earlier hook declared them.

Revision ID: 0320
Revises: 0310
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0320"
down_revision = "0310"
branch_labels = None
depends_on = None

# The earliest legacy timer of each ticket, with its retry state (a failing one keeps backing off).
# A ticket may already have an ``sla`` timer (written by a new process while an old one still wrote
# legacy timers): the earlier instant wins, as the hook would declare the earliest moment.
_UPGRADE = """
INSERT INTO timers (ticket_id, kind, key, due_at, attempts, last_error, created_at)
SELECT DISTINCT ON (ticket_id) ticket_id, 'sla', '', due_at, attempts, last_error, created_at
FROM timers WHERE kind IN ('sla_warning', 'sla_breach')
ORDER BY ticket_id, due_at
ON CONFLICT (ticket_id, kind, key) DO UPDATE SET due_at = least(timers.due_at, excluded.due_at)
"""

# What the earlier hook declared (``clocks.next_moments`` per metric): a breach timer at the due instant
# of each running metric not yet breached, and a warning timer ``warning_minutes`` before it while
# neither warned nor breached. ``->>`` is NULL for JSON null and for a missing key alike.
_DOWNGRADE = """
WITH m AS (
    SELECT t.id AS ticket_id, e->>'metric' AS metric, (e->>'due_at')::timestamptz AS due_at,
           coalesce((e->>'warning_minutes')::int, 0) AS warning_minutes, e->>'warned_at' IS NULL AS unwarned
    FROM tickets t CROSS JOIN LATERAL jsonb_array_elements(t.sla->'metrics') e
    WHERE t.sla IS NOT NULL AND e->>'running_since' IS NOT NULL AND e->>'due_at' IS NOT NULL
      AND e->>'breached_at' IS NULL
)
INSERT INTO timers (ticket_id, kind, key, due_at)
SELECT ticket_id, 'sla_breach', metric, due_at FROM m
UNION ALL
SELECT ticket_id, 'sla_warning', metric, due_at - make_interval(mins => warning_minutes) FROM m
WHERE warning_minutes > 0 AND unwarned
ON CONFLICT (ticket_id, kind, key) DO NOTHING
"""


def upgrade() -> None:
    op.execute(_UPGRADE)
    op.execute("DELETE FROM timers WHERE kind IN ('sla_warning', 'sla_breach')")


def downgrade() -> None:
    op.execute(_DOWNGRADE)
    op.execute("DELETE FROM timers WHERE kind = 'sla'")
