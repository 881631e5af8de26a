"""The cookie-signing key shared by every web process and box on the database (was each box's state dir).

Revision ID: web_0005_secrets
Revises: web_0004_login_failures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "web_0005_secrets"
down_revision = "web_0004_login_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_web_secrets")),
    )


def downgrade() -> None:
    op.drop_table("web_secrets")
