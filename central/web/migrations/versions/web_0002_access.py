"""Web access: server-side sessions, regency scope for users and tokens, token scopes.

Existing logins end (their cookies carry no server-side session); existing users and tokens keep the
whole province; existing tokens see the public fields only until given the 'internal' scope.

Revision ID: web_0002_access
Revises: web_0001_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "web_0002_access"
down_revision = "web_0001_accounts"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["web_users.id"], name=op.f("fk_web_sessions_user_id_web_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("id_sha256", name=op.f("uq_web_sessions_id_sha256")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"])
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"])
    with op.batch_alter_table("web_users") as batch:
        batch.add_column(sa.Column("regencies", JSON, nullable=False, server_default="[]"))
    with op.batch_alter_table("web_api_tokens") as batch:
        batch.add_column(sa.Column("scopes", JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("regencies", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("web_api_tokens") as batch:
        batch.drop_column("regencies")
        batch.drop_column("scopes")
    with op.batch_alter_table("web_users") as batch:
        batch.drop_column("regencies")
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
