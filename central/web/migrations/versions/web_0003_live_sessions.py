"""Live view audit: who watched which camera live, from when to when.

Revision ID: web_0003_live_sessions
Revises: web_0002_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "web_0003_live_sessions"
down_revision = "web_0002_access"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_live_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("camera_pk", ID, nullable=True),
        sa.Column("agent_name", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("regency_code", sa.String(length=8), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_pk"], ["cameras.id"], name=op.f("fk_web_live_sessions_camera_pk_cameras"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_live_sessions")),
    )
    op.create_index(op.f("ix_web_live_sessions_camera_pk"), "web_live_sessions", ["camera_pk"])
    op.create_index(op.f("ix_web_live_sessions_started_at"), "web_live_sessions", ["started_at"])
    op.create_index(op.f("ix_web_live_sessions_regency_code"), "web_live_sessions", ["regency_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_live_sessions_regency_code"), table_name="web_live_sessions")
    op.drop_index(op.f("ix_web_live_sessions_started_at"), table_name="web_live_sessions")
    op.drop_index(op.f("ix_web_live_sessions_camera_pk"), table_name="web_live_sessions")
    op.drop_table("web_live_sessions")
