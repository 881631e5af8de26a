"""Agents guarded from each other: dedupe per agent, clock offset per agent, quarantine read per agent.

- ``ingested_messages``' key becomes (msg_id, agent_name): one agent reusing another's msg_id must
  not get the other's message dropped as a redelivery.
- ``agents.clock_ahead_s`` / ``clock_off_since``: how far ahead of central an agent stamps its
  reports, for its page and the clock alert.
- ``ix_quarantine_agent_last_seen``: the admin page, the API and the refusal alert read the
  quarantine per agent and recent first.

Revision ID: 0007_agent_guards
Revises: 0006_agent_link_lost

"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007_agent_guards"
down_revision: Union[str, Sequence[str], None] = "0006_agent_link_lost"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("ingested_messages", recreate="always") as batch:
        batch.drop_constraint("pk_ingested_messages", type_="primary")
        batch.create_primary_key("pk_ingested_messages", ["msg_id", "agent_name"])
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("clock_ahead_s", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("clock_off_since", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("quarantine") as batch:
        batch.create_index("ix_quarantine_agent_last_seen", ["agent_name", "last_seen_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema (ids reused across agents keep only one row: the key can hold no more)."""
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_index("ix_quarantine_agent_last_seen")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("clock_off_since")
        batch.drop_column("clock_ahead_s")
    op.execute(
        "DELETE FROM ingested_messages WHERE EXISTS (SELECT 1 FROM ingested_messages AS other "
        "WHERE other.msg_id = ingested_messages.msg_id AND other.agent_name < ingested_messages.agent_name)"
    )
    with op.batch_alter_table("ingested_messages", recreate="always") as batch:
        batch.drop_constraint("pk_ingested_messages", type_="primary")
        batch.create_primary_key("pk_ingested_messages", ["msg_id"])
