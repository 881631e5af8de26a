"""Central's own state changes: periods end and open once, in memory within a transaction, with one event each."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchWriter, Received
from central.storage import transitions
from central.storage.db import Database
from central.storage.models import Camera, CameraStatusChange, Event
from tests.central import factories as f

AGENT = "agent-plg"
T0 = f.T0
MIN = dt.timedelta(minutes=1)


def test_two_changes_in_one_transaction_write_each_period_once(database: Database) -> None:
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})))
    writer.write([Received(*f.wire(f.inventory(AGENT, ["cam-1"], T0)), T0 + MIN),
                  Received(*f.wire(f.camera_status(AGENT, "cam-1", "ok", T0)), T0 + MIN)])
    with database.session(write=True) as session:
        camera = session.scalars(select(Camera)).one()
        now = transitions.CameraNow(camera.id, camera.camera_id, camera.regency_code, camera.status,
                                    camera.status_since)
        changes = transitions.Transitions()
        conn = session.connection()
        changes.camera(now, "offline", "lost", "", T0 + 2 * MIN)
        changes.camera(now, "unknown", "no_report", "", T0 + 5 * MIN)
        changes.write_periods(conn)
        changes.write_events(conn)  # none were added: periods and events are separate steps
    with database.session() as session:
        periods = session.scalars(select(CameraStatusChange).order_by(CameraStatusChange.started_at)).all()
        assert [(p.status, p.duration_s) for p in periods] == [("ok", 120.0), ("offline", 180.0), ("unknown", None)]
        assert len(session.scalars(select(Event).where(Event.kind == "camera_status")).all()) == 1  # the report's


def test_an_agent_going_offline_leaves_its_cameras_unknown_once(database: Database) -> None:
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})))
    writer.write([Received(*f.wire(f.inventory(AGENT, ["cam-1"], T0)), T0 + MIN),
                  Received(*f.wire(f.camera_status(AGENT, "cam-1", "ok", T0)), T0 + MIN)])
    result = writer.write([Received(*f.wire(f.offline(AGENT, T0 + 2 * MIN, reason="shutdown")), T0 + 3 * MIN),
                           Received(*f.wire(f.offline(AGENT, T0 + 4 * MIN, reason="shutdown")), T0 + 5 * MIN)])
    with database.session() as session:
        camera = session.scalars(select(Camera)).one()
        assert (camera.status, camera.reason, camera.status_since) == ("unknown", "agent_offline", T0 + 2 * MIN)
        assert camera.id in result.changed_cameras
        kinds = [(e.kind, e.new_state) for e in session.scalars(select(Event).order_by(Event.id))]
        assert kinds.count(("camera_status", "unknown")) == 1
