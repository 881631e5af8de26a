"""Agents get link_lost_at: a last will waits out a grace period before the agent counts as offline.

A broker restart drops every agent's connection for a second or two; applied at once, each will
turned all of an agent's cameras unknown and back (40 status changes per restart for 20 cameras).

Revision ID: 0006_agent_link_lost
Revises: 0005_one_rollout_ladder

"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006_agent_link_lost"
down_revision: Union[str, Sequence[str], None] = "0005_one_rollout_ladder"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("link_lost_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("link_lost_at")
