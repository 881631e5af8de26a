"""ingest_sight: each ingest worker's sight and heartbeat, so presence settles by central's sight as a whole.

With several workers sharing the subscription, a birth queued at the broker for a worker still
disconnected must not let a connected worker take that agent offline (``ingest/central_sight.py``).

Revision ID: 0009_ingest_sight
Revises: 0008_agent_heard_at

"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009_ingest_sight"
down_revision: str | Sequence[str] | None = "0008_agent_heard_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ingest_sight",
        sa.Column("worker", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_ingest_sight")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("ingest_sight")
