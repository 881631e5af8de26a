"""Login throttle counts in the database, shared by every worker and instance (was each worker's memory).

Revision ID: web_0004_login_failures
Revises: web_0003_live_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "web_0004_login_failures"
down_revision = "web_0003_live_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login_failures",
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_sha256", name=op.f("pk_web_login_failures")),
    )
    op.create_index(op.f("ix_web_login_failures_last_failure"), "web_login_failures", ["last_failure"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_login_failures_last_failure"), table_name="web_login_failures")
    op.drop_table("web_login_failures")
