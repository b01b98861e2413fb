"""ticket_tags: each tag of each ticket with the ticket's status and creation instant, in one btree

A list of one tag and some statuses, newest first (``?tag=vip&status=open&status=pending``), was read by
walking the tickets in creation order and filtering tags (``ix_tickets_created``/``ix_tickets_status_created``
include them). Its cost is the number of tickets walked past before a page is full, so it grew without
bound when the newest tickets did not match: 10,000 new tickets without the tag made a page cost 15 ms
instead of 0.1 (bench/RESULTS.md, the soak). A GIN index finds a tag's tickets but not in order. This
table is that order: ``(tag, status, created_at, ticket_id)``, one range per status, merged (queries.py).

A trigger keeps it, not the write paths: it is an index the planner cannot build from an array column,
and like an index it must follow every write (the seam, bulk changes, imports, bench loaders) without
each of them knowing it. Its rows change only when a ticket's tags, status or creation instant do. No
foreign key: the triggers already tie each row to its ticket (deleting a ticket deletes its rows), and
a key's check on every row would double what a tagged ticket's insert pays here (bench/tag_index_cost.py).

Revision ID: 0330
Revises: 0320
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0330"
down_revision = "0320"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE FUNCTION ticket_tags_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.tags = OLD.tags THEN  -- a status change: one statement, not two
        UPDATE ticket_tags SET status = NEW.status, created_at = NEW.created_at
        WHERE tag = ANY(OLD.tags) AND status = OLD.status AND created_at = OLD.created_at
          AND ticket_id = OLD.id;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM ticket_tags
        WHERE tag = ANY(OLD.tags) AND status = OLD.status AND created_at = OLD.created_at
          AND ticket_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO ticket_tags (tag, status, created_at, ticket_id)
        SELECT DISTINCT tag, NEW.status, NEW.created_at, NEW.id FROM unnest(NEW.tags) tag;
    END IF;
    RETURN NULL;
END
$$
"""

# The WHEN clauses are evaluated without calling the function: an update that leaves tags alone and
# either leaves status and creation instant alone (most of them) or concerns an untagged ticket costs
# nothing here.
_TRIGGERS = (
    """CREATE TRIGGER ticket_tags_on_insert AFTER INSERT ON tickets
    FOR EACH ROW WHEN (cardinality(NEW.tags) > 0) EXECUTE FUNCTION ticket_tags_follow()""",
    """CREATE TRIGGER ticket_tags_on_update AFTER UPDATE OF tags, status, created_at ON tickets
    FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags
                       OR cardinality(NEW.tags) > 0 AND (OLD.status IS DISTINCT FROM NEW.status
                                                         OR OLD.created_at IS DISTINCT FROM NEW.created_at))
    EXECUTE FUNCTION ticket_tags_follow()""",
    """CREATE TRIGGER ticket_tags_on_delete AFTER DELETE ON tickets
    FOR EACH ROW WHEN (cardinality(OLD.tags) > 0) EXECUTE FUNCTION ticket_tags_follow()""",
)

_BACKFILL = """
INSERT INTO ticket_tags (tag, status, created_at, ticket_id)
SELECT DISTINCT u.tag, t.status, t.created_at, t.id FROM tickets t CROSS JOIN LATERAL unnest(t.tags) u(tag)
"""


def upgrade() -> None:
    op.create_table(
        "ticket_tags",
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tag", "status", "created_at", "ticket_id", name=op.f("pk_ticket_tags")),
    )
    op.execute(_FUNCTION)
    for trigger in _TRIGGERS:
        op.execute(trigger)
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER ticket_tags_on_delete ON tickets")
    op.execute("DROP TRIGGER ticket_tags_on_update ON tickets")
    op.execute("DROP TRIGGER ticket_tags_on_insert ON tickets")
    op.execute("DROP FUNCTION ticket_tags_follow()")
    op.drop_table("ticket_tags")
