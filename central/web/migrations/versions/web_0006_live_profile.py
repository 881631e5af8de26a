"""The live viewing record says which camera stream the agent read (main, sub, or the configured rtsp_url).

Revision ID: web_0006_live_profile
Revises: web_0005_secrets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "web_0006_live_profile"
down_revision = "web_0005_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "": not known (an agent older than the field, or no frame came); rows recorded before stay so.
    with op.batch_alter_table("web_live_sessions") as batch:
        batch.add_column(sa.Column("stream_profile", sa.String(length=16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("web_live_sessions") as batch:
        batch.drop_column("stream_profile")
