"""API keys: who may speak for customers; revoked stays revoked; no key above its agent's role

- ``api_keys.speaks_for_customers``: only such a key (an integration's, never an agent's) may post
  comments as a ticket's requester. Existing keys start without it: before, any key could write as any
  customer, which is the hole this closes; an operator grants it to the integrations that need it.
- Deactivating an agent now revokes their keys (reactivating no longer revives them). Keys of agents
  that are deactivated today are revoked here, so a later reactivation cannot revive them either.
- An admin key bound to an agent whose role is ``agent`` is refused from now on; such keys are revoked.

The downgrade drops the column; revocations stay (revoked stays revoked).

Revision ID: 0340_trust_api
Revises: 0330
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0340_trust_api"
down_revision = "0330"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("speaks_for_customers", sa.Boolean(), server_default="false", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_api_keys_customer_voice_unbound"), "api_keys", "NOT speaks_for_customers OR agent_id IS NULL"
    )
    op.execute(
        "UPDATE api_keys k SET revoked_at = now() FROM agents a "
        "WHERE k.agent_id = a.id AND k.revoked_at IS NULL "
        "AND (NOT a.active OR (k.role = 'admin' AND a.role <> 'admin'))"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_keys_customer_voice_unbound"), "api_keys", type_="check")
    op.drop_column("api_keys", "speaks_for_customers")
