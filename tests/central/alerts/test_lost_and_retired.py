"""Alert rules see lost cameras (offline, reason lost) and stop seeing retired ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from central.alerts.config import CameraRules
from central.alerts.model import Rule
from central.alerts.sources import camera_observations
from central.storage.db import Database
from central.storage.queries import retire_camera
from tests.central.alerts.seed import add_agent, add_camera, set_status

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def test_lost_cameras_alert_and_retired_ones_do_not(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session(write=True) as session:
        add_agent(session, "agent-plg", "16.71", T0)
        session.flush()
        lost = add_camera(session, "agent-plg", "cam-1", "16.71", T0, opd="Dishub")
        set_status(session, "agent-plg", "cam-1", "offline", T0 + timedelta(minutes=1))
        lost.in_inventory, lost.lost_at, lost.reason = False, T0 + timedelta(minutes=1), "lost"
        add_camera(session, "agent-plg", "cam-2", "16.71", T0)
    with database.session() as session:
        offline = {o.subject_id: o for o in camera_observations(session, CameraRules()) if o.rule == Rule.CAMERA_OFFLINE}
        assert set(offline) == {"agent-plg/cam-1", "agent-plg/cam-2"}
        assert offline["agent-plg/cam-1"].bad is True and offline["agent-plg/cam-1"].opd == "Dishub"
        assert offline["agent-plg/cam-1"].message == "alasan: lost"  # the code, never the agent's words
    with database.session(write=True) as session:
        retire_camera(session, lost.id, retired_by="op", now=T0 + timedelta(hours=1))
    with database.session() as session:
        assert {o.subject_id for o in camera_observations(session, CameraRules())} == {"agent-plg/cam-2"}
    database.dispose()
