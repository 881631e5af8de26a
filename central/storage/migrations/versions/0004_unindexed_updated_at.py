"""Cameras and websites drop their updated_at indexes: no query reads them, and every report rewrites the column.

Each stored status report moved its camera's entry in ix_cameras_updated_at (a delete and an insert
in a B-tree) for nothing.

Revision ID: 0004_unindexed_updated_at
Revises: 0003_outbox_rejected

"""
from __future__ import annotations

from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004_unindexed_updated_at"
down_revision: Union[str, Sequence[str], None] = "0003_outbox_rejected"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("cameras") as batch:
        batch.drop_index(batch.f("ix_cameras_updated_at"))
    with op.batch_alter_table("websites") as batch:
        batch.drop_index(batch.f("ix_websites_updated_at"))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("websites") as batch:
        batch.create_index(batch.f("ix_websites_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("cameras") as batch:
        batch.create_index(batch.f("ix_cameras_updated_at"), ["updated_at"], unique=False)
