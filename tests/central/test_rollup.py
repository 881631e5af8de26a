"""Daily uptime rollups, silent cameras, retention and the regency counts on both databases."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchWriter, Received
from central.storage import queries, rollup
from central.storage.db import Database
from central.storage.models import Camera, CameraCheck, CameraDaily, CameraStatusChange, RegencyDaily
from tests.central import factories as f

AGENT = "agent-plg"
JAKARTA = ZoneInfo("Asia/Jakarta")
DAY = dt.date(2026, 1, 5)
START, _ = rollup.day_bounds(DAY, JAKARTA)  # 2026-01-04 17:00 UTC


def feed(database: Database, *messages: object) -> None:
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})))
    writer.write([Received(*f.wire(m), START + dt.timedelta(days=1)) for m in messages])


def test_daily_seconds_follow_status_periods(database: Database) -> None:
    feed(database,
         f.camera_status(AGENT, "cam-1", "ok", START - dt.timedelta(hours=1)),
         f.camera_status(AGENT, "cam-1", "offline", START + dt.timedelta(hours=18)),
         f.camera_status(AGENT, "cam-1", "ok", START + dt.timedelta(hours=20)))
    with database.session(write=True) as session:
        rollup.update_daily(session.connection(), DAY, JAKARTA, START + dt.timedelta(days=2))
    with database.session() as session:
        row = session.scalars(select(CameraDaily)).one()
        assert (row.seconds_ok, row.seconds_offline) == (22 * 3600, 2 * 3600)
        assert (row.checks_total, row.checks_ok) == (2, 1)
        regency = session.scalars(select(RegencyDaily)).one()
        assert regency.regency_code == "16.71" and regency.cameras == 1
        [daily] = queries.regency_daily_uptime(session, "16.71", DAY)
        assert daily.cameras is not None and abs(daily.cameras - 22 / 24) < 1e-9


def test_silent_cameras_become_unknown_and_retention_keeps_dailies(database: Database) -> None:
    feed(database, f.camera_status(AGENT, "cam-1", "ok", START))
    now = START + dt.timedelta(hours=1)
    with database.session(write=True) as session:
        assert rollup.mark_silent_cameras(session.connection(), now, dt.timedelta(minutes=15))
        rollup.update_daily(session.connection(), DAY, JAKARTA, now)
    with database.session() as session:
        camera = session.scalars(select(Camera)).one()
        assert (camera.status, camera.reason) == ("unknown", "no_report")
        assert session.scalar(select(func.count()).select_from(CameraStatusChange)) == 2
        counts = queries.regency_counts(session, {"16.71"})[0]
        assert counts.cameras["unknown"] == 1 and counts.cameras_total == 1
    with database.session(write=True) as session:
        deleted = rollup.prune(session.connection(), dt.timedelta(days=30), now + dt.timedelta(days=60))
    assert deleted["camera_checks"] == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(CameraCheck)) == 0
        assert session.scalar(select(func.count()).select_from(CameraDaily)) == 1


def test_lost_cameras_count_in_the_public_summary_not_on_the_overview(database: Database) -> None:
    from central.web.rollup import compute_rollup

    feed(database, f.camera_status(AGENT, "cam-1", "offline", START), f.camera_status(AGENT, "cam-2", "ok", START))
    with database.session(write=True) as session:
        session.scalars(select(Camera).where(Camera.camera_id == "cam-1")).one().lost_at = START
    with database.session() as session:
        public = queries.regency_counts(session, {"16.71"})[0]
        assert (public.cameras["offline"], public.cameras_total) == (1, 2)
        overview = compute_rollup(session).by_code["16.71"]
        assert (overview.cameras_offline, overview.cameras_total) == (0, 1)
