"""Recorded rollout stages move onto the one rollout ladder the overview, API and public topics show.

The old recorded vocabulary maps to the ladder by what it told the derivation: planned and survey
proved nothing (planned), installing and pilot a box in place (box_installed), live a sign-off
(complete). The column widens to hold the ladder's longest step.

Revision ID: 0005_one_rollout_ladder
Revises: 0004_unindexed_updated_at

"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005_one_rollout_ladder"
down_revision: Union[str, Sequence[str], None] = "0004_unindexed_updated_at"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TO_LADDER = {"survey": "planned", "installing": "box_installed", "pilot": "box_installed", "live": "complete"}
_FROM_LADDER = {"box_installed": "installing", "complete": "live"}


def _rename(mapping: dict[str, str]) -> None:
    rollouts = sa.table("rollouts", sa.column("stage", sa.String))
    for old, new in mapping.items():
        op.execute(rollouts.update().where(rollouts.c.stage == old).values(stage=new))


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("rollouts") as batch:
        batch.alter_column("stage", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False)
    _rename(_TO_LADDER)


def downgrade() -> None:
    """Downgrade schema: steps live data proves go back to the last recorded word before them."""
    rollouts = sa.table("rollouts", sa.column("stage", sa.String))
    op.execute(rollouts.update().where(rollouts.c.stage.in_(["agent_online", "cameras_integrated",
                                                              "websites_integrated"])).values(stage="installing"))
    _rename(_FROM_LADDER)
    with op.batch_alter_table("rollouts") as batch:
        batch.alter_column("stage", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False)
