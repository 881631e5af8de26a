"""Retired cameras: an operator takes a camera out of every total, alert and report (its history stays).

Also brings existing rows in line with the rule that a lost camera still counts, as offline (reason
``lost``), and that a camera found again is no longer lost.

Revision ID: 0002_camera_retired
Revises: 0001_initial

"""
from __future__ import annotations

import datetime as dt
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_camera_retired"
down_revision: Union[str, Sequence[str], None] = "0001_initial"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retired_by", sa.String(length=256), nullable=False, server_default=""))

    cameras = sa.table(
        "cameras",
        sa.column("id", sa.BigInteger), sa.column("in_inventory", sa.Boolean),
        sa.column("lost_at", sa.DateTime(timezone=True)), sa.column("status", sa.String),
        sa.column("reason", sa.String), sa.column("message", sa.String),
        sa.column("status_since", sa.DateTime(timezone=True)),
    )
    changes = sa.table(
        "camera_status_changes",
        sa.column("camera_pk", sa.BigInteger), sa.column("status", sa.String), sa.column("reason", sa.String),
        sa.column("message", sa.String), sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("ended_at", sa.DateTime(timezone=True)), sa.column("duration_s", sa.Float),
    )
    bind = op.get_bind()
    bind.execute(sa.update(cameras).where(cameras.c.in_inventory.is_(True)).values(lost_at=None))
    now = dt.datetime.now(dt.UTC)
    stamp = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now
    lost = bind.execute(
        sa.select(cameras.c.id, cameras.c.status).where(
            cameras.c.in_inventory.is_(False), cameras.c.lost_at.is_not(None)
        )
    ).all()
    for pk, status in lost:
        if status != "offline":
            for started_at in bind.scalars(
                sa.select(changes.c.started_at).where(changes.c.camera_pk == pk, changes.c.ended_at.is_(None))
            ):
                began = started_at.replace(tzinfo=dt.UTC) if started_at.tzinfo is None else started_at
                bind.execute(
                    sa.update(changes)
                    .where(changes.c.camera_pk == pk, changes.c.ended_at.is_(None))
                    .values(ended_at=stamp, duration_s=max(0.0, (now - began).total_seconds()))
                )
            bind.execute(sa.insert(changes).values(
                camera_pk=pk, status="offline", reason="lost", message="", started_at=stamp
            ))
        bind.execute(
            sa.update(cameras).where(cameras.c.id == pk).values(
                status="offline", reason="lost", message="",
                **({} if status == "offline" else {"status_since": stamp}),
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("retired_by")
        batch.drop_column("retired_at")
