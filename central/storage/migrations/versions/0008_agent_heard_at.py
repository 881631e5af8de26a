"""Agents get heard_at: when central last received any message from the agent (its own clock).

An agent whose last will never came (it died while the broker was down, or its link is half-open)
stayed online forever; with heard_at, presence takes an agent silent for ``[ingest] agent_silence_s``
offline (no_report). ``last_seen_at`` is the agent's measurement time, which a skewed clock or a
store-and-forward backlog moves away from when central heard it.

Revision ID: 0008_agent_heard_at
Revises: 0007_agent_guards

"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008_agent_heard_at"
down_revision: str | Sequence[str] | None = "0007_agent_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("heard_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("heard_at")
