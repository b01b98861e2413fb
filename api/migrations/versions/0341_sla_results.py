"""SLA targets and warning leads in seconds; the SLA document's new fields

Policies kept each target as ``{"minutes", "time", "warning_minutes"}``; they now keep
``{"seconds", "time", "warning_seconds"}`` (the API still accepts the minutes fields on input). Every
policy and every recorded policy version is converted. A warning lead at least as long as its target
could never work (the warning instant fell before the cycle started; ticket creates answered 500): such
a lead is dropped (0, no warning), as the API now refuses it.

Each metric of each ticket's SLA document gains ``target_seconds`` and ``warning_seconds`` (the minutes
fields stay, deprecated), ``first_breached_at`` (the breach a cycle reported: its ``breached_at``) and
``cancelled_at`` (null); each earlier cycle gains ``target_seconds`` and ``cancelled_at``. Each document
gains ``measured``: the metrics its policy version sets targets for at the ticket's priority (read from
``sla_policy_versions``; left out when that version is not recorded), so that a metric not started yet
is told from one a policy starts measuring late.

The downgrade converts back (rounding seconds up to whole minutes), drops the metrics and targets the
earlier code does not know (requester wait, total resolution, the unpaused periodic update), turns a
cancelled cycle into a fulfilled one as that code recorded it, and removes the new document fields.

Revision ID: 0340_sla_results
Revises: 0330
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0340_sla_results"
down_revision = "0340_trust_api"
branch_labels = None
depends_on = None

# One target in seconds from one in minutes (a target already in seconds is kept as it is).
_TARGET_UP = """
CREATE FUNCTION pg_temp.sla_target_up(t jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN t ? 'seconds' THEN t ELSE jsonb_build_object(
        'seconds', (t ->> 'minutes')::bigint * 60,
        'time', coalesce(t ->> 'time', 'calendar'),
        'warning_seconds', CASE
            WHEN coalesce((t ->> 'warning_minutes')::bigint, 0) >= (t ->> 'minutes')::bigint THEN 0
            ELSE coalesce((t ->> 'warning_minutes')::bigint, 0) * 60 END)
    END
$$
"""
_TARGET_DOWN = """
CREATE FUNCTION pg_temp.sla_target_down(t jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN t ? 'minutes' THEN t ELSE jsonb_build_object(
        'minutes', ceil((t ->> 'seconds')::numeric / 60)::bigint,
        'time', coalesce(t ->> 'time', 'calendar'),
        'warning_minutes', LEAST(
            ceil(coalesce((t ->> 'warning_seconds')::numeric, 0) / 60)::bigint,
            ceil((t ->> 'seconds')::numeric / 60)::bigint - 1))
    END
$$
"""
# Every priority's targets through ``convert``; ``keep`` names the metrics kept (the downgrade drops
# the ones the earlier code does not know).
_TARGETS = """
CREATE FUNCTION pg_temp.sla_targets(targets jsonb, up boolean) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(p.key, (
        SELECT coalesce(jsonb_object_agg(m.key, CASE WHEN up THEN pg_temp.sla_target_up(m.value)
                                                     ELSE pg_temp.sla_target_down(m.value) END), '{}'::jsonb)
        FROM jsonb_each(p.value) m
        WHERE jsonb_typeof(m.value) = 'object'
          AND (up OR m.key IN ('first_response', 'next_response', 'periodic_update', 'resolution'))
    )), '{}'::jsonb)
    FROM jsonb_each(targets) p
$$
"""

_METRIC_UP = """
CREATE FUNCTION pg_temp.sla_metric_up(m jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m ? 'target_seconds' THEN m ELSE m || jsonb_build_object(
        'target_seconds', (m ->> 'target_minutes')::bigint * 60,
        'warning_minutes', CASE WHEN (m ->> 'warning_minutes')::bigint >= (m ->> 'target_minutes')::bigint
                                THEN 0 ELSE (m ->> 'warning_minutes')::bigint END,
        'warning_seconds', CASE WHEN (m ->> 'warning_minutes')::bigint >= (m ->> 'target_minutes')::bigint
                                THEN 0 ELSE (m ->> 'warning_minutes')::bigint * 60 END,
        'first_breached_at', m -> 'breached_at',
        'cancelled_at', NULL,
        'earlier_cycles', (
            SELECT coalesce(jsonb_agg(c || jsonb_build_object(
                       'target_seconds', (c ->> 'target_minutes')::bigint * 60, 'cancelled_at', NULL)
                   ORDER BY n), '[]'::jsonb)
            FROM jsonb_array_elements(m -> 'earlier_cycles') WITH ORDINALITY e(c, n)))
    END
$$
"""
_METRIC_DOWN = """
CREATE FUNCTION pg_temp.sla_metric_down(m jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT (m - 'target_seconds' - 'warning_seconds' - 'first_breached_at' - 'cancelled_at')
        || jsonb_build_object(
            'state', CASE WHEN m ->> 'state' = 'cancelled' THEN 'fulfilled' ELSE m ->> 'state' END,
            'fulfilled_at', coalesce(
                nullif(m -> 'fulfilled_at', 'null'::jsonb), nullif(m -> 'cancelled_at', 'null'::jsonb),
                'null'::jsonb),
            'earlier_cycles', (
                SELECT coalesce(jsonb_agg(
                           (c - 'target_seconds' - 'cancelled_at')
                           || jsonb_build_object('fulfilled_at', coalesce(
                                  nullif(c -> 'fulfilled_at', 'null'::jsonb),
                                  nullif(c -> 'cancelled_at', 'null'::jsonb), 'null'::jsonb))
                       ORDER BY n), '[]'::jsonb)
                FROM jsonb_array_elements(m -> 'earlier_cycles') WITH ORDINALITY e(c, n)))
$$
"""
_DOCUMENTS = """
CREATE FUNCTION pg_temp.sla_document(doc jsonb, up boolean) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_set(doc, '{metrics}', (
        SELECT coalesce(jsonb_agg(CASE WHEN up THEN pg_temp.sla_metric_up(m)
                                       ELSE pg_temp.sla_metric_down(m) END ORDER BY i), '[]'::jsonb)
        FROM jsonb_array_elements(doc -> 'metrics') WITH ORDINALITY x(m, i)
        WHERE up OR m ->> 'metric' IN ('first_response', 'next_response', 'periodic_update', 'resolution')
    ))
$$
"""

# The metrics each ticket's policy version measures at its priority, in the clocks' order.
_MEASURED = """
UPDATE tickets t SET sla = t.sla || jsonb_build_object('measured', (
    SELECT coalesce(jsonb_agg(k ORDER BY array_position(ARRAY[
               'first_response', 'next_response', 'periodic_update', 'periodic_update_unpaused',
               'requester_wait', 'resolution', 'total_resolution'], k)), '[]'::jsonb)
    FROM jsonb_object_keys(v.document -> 'targets' -> t.priority) k))
FROM sla_policy_versions v
WHERE t.sla IS NOT NULL AND NOT t.sla ? 'measured'
  AND v.policy_id = (t.sla ->> 'policy_id')::uuid AND v.version = (t.sla ->> 'policy_version')::int
  AND jsonb_typeof(v.document -> 'targets' -> t.priority) = 'object'
"""


def _convert(up: bool) -> None:
    for function in (_TARGET_UP, _TARGET_DOWN, _TARGETS, _METRIC_UP, _METRIC_DOWN, _DOCUMENTS):
        op.execute(function)
    flag = "true" if up else "false"
    op.execute(f"UPDATE sla_policies SET targets = pg_temp.sla_targets(targets, {flag})")
    op.execute(
        "UPDATE sla_policy_versions SET document = jsonb_set(document, '{targets}', "
        f"pg_temp.sla_targets(document -> 'targets', {flag})) WHERE document ? 'targets'"
    )
    op.execute(f"UPDATE tickets SET sla = pg_temp.sla_document(sla, {flag}) WHERE sla IS NOT NULL")
    op.execute(_MEASURED if up else "UPDATE tickets SET sla = sla - 'measured' WHERE sla ? 'measured'")
    for name in ("sla_document", "sla_metric_down", "sla_metric_up", "sla_targets", "sla_target_down"):
        op.execute(f"DROP FUNCTION pg_temp.{name}")
    op.execute("DROP FUNCTION pg_temp.sla_target_up")


def upgrade() -> None:
    _convert(up=True)


def downgrade() -> None:
    _convert(up=False)
