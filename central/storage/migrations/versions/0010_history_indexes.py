"""Indexes that bound the repeated reads of kept history: periods by their end, a camera's events, a day's regency rollup.

Every ingest worker recomputes today's and yesterday's daily rollups once a minute; it found the
periods overlapping a day by "ended after the day began, or still open", which no index served, so
each round read every status period ever kept (a year: ~500k camera periods, ~90 ms, twice a minute,
holding the write turn). The report page asked the same of a month. Each status change closes its
subject's open period ("camera_pk = ? AND ended_at IS NULL"), which the (camera_pk, started_at) index
served by reading every period of that camera (~2,900 a year for one flapping four times a day): by
(ended_at, camera_pk) it is one entry, and ended_at first serves the overlap. A camera's page and the
API's events of a camera filtered events by camera_pk, which no index served either: the newest 15 were
found by reading the events (30 days of them) backwards. And a day's regency rollup was deleted by
day alone against a primary key that begins with the regency.

Revision ID: 0010_history_indexes
Revises: 0009_ingest_sight

"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010_history_indexes"
down_revision: str | Sequence[str] | None = "0009_ingest_sight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("camera_status_changes") as batch:
        batch.create_index("ix_camera_status_changes_ended_camera", ["ended_at", "camera_pk"], unique=False)
    with op.batch_alter_table("website_status_changes") as batch:
        batch.create_index("ix_website_status_changes_ended_website", ["ended_at", "website_pk"], unique=False)
    with op.batch_alter_table("events") as batch:
        batch.create_index("ix_events_camera_id", ["camera_pk", "id"], unique=False)
    with op.batch_alter_table("regency_daily") as batch:
        batch.create_index(batch.f("ix_regency_daily_day"), ["day"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("regency_daily") as batch:
        batch.drop_index(batch.f("ix_regency_daily_day"))
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_camera_id")
    with op.batch_alter_table("website_status_changes") as batch:
        batch.drop_index("ix_website_status_changes_ended_website")
    with op.batch_alter_table("camera_status_changes") as batch:
        batch.drop_index("ix_camera_status_changes_ended_camera")
