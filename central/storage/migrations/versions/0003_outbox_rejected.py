"""Host metrics keep the agent's count of reports the broker refused (ACL 0x87, too large), next to drops.

Existing rows and older agents, which do not send the count, read 0.

Revision ID: 0003_outbox_rejected
Revises: 0002_camera_retired

"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003_outbox_rejected"
down_revision: Union[str, Sequence[str], None] = "0002_camera_retired"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("host_metrics") as batch:
        batch.add_column(sa.Column("outbox_rejected_total", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("host_metrics") as batch:
        batch.drop_column("outbox_rejected_total")
