"""Daily uptime rollups, silent devices, retention, regency counts and the rules shared by every reader."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchWriter, Received
from central.storage import maintenance, queries
from central.storage.db import Database
from central.storage.models import (
    Camera,
    CameraCheck,
    CameraDaily,
    CameraStatusChange,
    RegencyDaily,
    Website,
    WebsiteStatusChange,
)
from shared import topics
from shared.messages import CameraInventory, CameraStatus, CheckOutcome, Envelope
from tests.central import factories as f

AGENT = "agent-plg"
JAKARTA = ZoneInfo("Asia/Jakarta")
DAY = dt.date(2026, 1, 5)
START, _ = maintenance.day_bounds(DAY, JAKARTA)  # 2026-01-04 17:00 UTC


def feed(database: Database, *messages: object) -> None:
    """Write ``messages``; without an inventory among them, one listing their cameras goes first (only an
    inventory makes a camera)."""
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})))
    cameras = sorted({m.camera_id for m in messages if isinstance(m, CameraStatus)})
    if cameras and not any(isinstance(m, CameraInventory) for m in messages):
        first = min(m.ts for m in messages if isinstance(m, Envelope))
        messages = (f.inventory(AGENT, cameras, first - dt.timedelta(minutes=1)), *messages)
    writer.write([Received(*f.wire(m), START + dt.timedelta(days=1)) for m in messages])


def test_daily_seconds_follow_status_periods(database: Database) -> None:
    feed(database,
         f.camera_status(AGENT, "cam-1", "ok", START - dt.timedelta(hours=1)),
         f.camera_status(AGENT, "cam-1", "offline", START + dt.timedelta(hours=18)),
         f.camera_status(AGENT, "cam-1", "ok", START + dt.timedelta(hours=20)))
    with database.session(write=True) as session:
        maintenance.update_daily(session.connection(), DAY, JAKARTA, START + dt.timedelta(days=2))
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
        assert maintenance.mark_silent_cameras(session.connection(), now, dt.timedelta(minutes=15))
        maintenance.update_daily(session.connection(), DAY, JAKARTA, now)
    with database.session() as session:
        camera = session.scalars(select(Camera)).one()
        assert (camera.status, camera.reason) == ("unknown", "no_report")
        assert session.scalar(select(func.count()).select_from(CameraStatusChange)) == 2
        counts = queries.regency_counts(session, {"16.71"})[0]
        assert counts.cameras_unknown == 1 and counts.cameras_total == 1
    with database.session(write=True) as session:
        deleted = maintenance.prune(session.connection(), dt.timedelta(days=30), now + dt.timedelta(days=60))
    assert deleted["camera_checks"] == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(CameraCheck)) == 0
        assert session.scalar(select(func.count()).select_from(CameraDaily)) == 1


def _public_summary(database: Database, province_agents: tuple[str, ...] = ()) -> dict[str, object]:
    """The RegencySummary content the ingest would publish for 16.71."""
    import json

    from central.ingest import public
    from central.storage.models import PublicState

    with database.session(write=True) as session:
        public.stage_summaries(session.connection(), {"16.71"}, START, province_agents=province_agents)
    with database.session() as session:
        row = session.get(PublicState, topics.public_regency("16.71"))
        assert row is not None
        return dict(json.loads(row.payload))


def test_a_lost_camera_counts_as_offline_everywhere_until_retired(database: Database) -> None:
    from central.web.province import compute_rollup

    feed(database, f.inventory(AGENT, ["cam-1", "cam-2"], START),
         f.camera_status(AGENT, "cam-1", "ok", START), f.camera_status(AGENT, "cam-2", "ok", START),
         f.inventory(AGENT, ["cam-2"], START + dt.timedelta(minutes=5)))
    with database.session(write=True) as session:
        # Lost cameras stop reporting on purpose: the silence sweep leaves them offline (lost).
        assert maintenance.mark_silent_cameras(session.connection(), START + dt.timedelta(hours=1),
                                          dt.timedelta(minutes=15)) == [2]
    with database.session() as session:
        lost = session.scalars(select(Camera).where(Camera.camera_id == "cam-1")).one()
        assert (lost.status, lost.reason, lost.lost, lost.in_service) == ("offline", "lost", True, True)
        assert queries.count_cameras(session, queries.CameraFilter(regency="16.71", status="offline")) == 1
        counts = queries.regency_counts(session, {"16.71"})[0]
        overview = compute_rollup(session).by_code["16.71"]
        assert (counts.cameras_offline, counts.cameras_total) == (1, 2)
        assert (overview.cameras_offline, overview.cameras_total) == (1, 2)
    summary = _public_summary(database)
    assert (summary["cameras_offline"], summary["cameras_total"]) == (1, 2)

    with database.session(write=True) as session:
        queries.retire_camera(session, lost.id, retired_by="op", now=START + dt.timedelta(hours=2))
    with database.session() as session:
        counts = queries.regency_counts(session, {"16.71"})[0]
        overview = compute_rollup(session).by_code["16.71"]
        assert (counts.cameras_offline, counts.cameras_total) == (0, 1)
        assert (overview.cameras_offline, overview.cameras_total) == (0, 1)
        assert queries.count_cameras(session, queries.CameraFilter(regency="16.71")) == 1
        assert session.scalars(select(Camera.status).where(Camera.camera_id == "cam-1")).one() == "offline"
    summary = _public_summary(database)
    assert (summary["cameras_offline"], summary["cameras_total"]) == (0, 1)


def test_a_camera_found_again_is_no_longer_lost_nor_retired(database: Database) -> None:
    feed(database, f.inventory(AGENT, ["cam-1"], START), f.inventory(AGENT, [], START + dt.timedelta(minutes=1)))
    with database.session(write=True) as session:
        queries.retire_camera(session, 1, retired_by="op", now=START + dt.timedelta(minutes=2))
    feed(database, f.inventory(AGENT, ["cam-1"], START + dt.timedelta(minutes=3)))
    with database.session() as session:
        camera = session.scalars(select(Camera)).one()
        assert (camera.lost_at, camera.retired_at, camera.in_inventory) == (None, None, True)


def test_public_summary_and_web_tell_the_same_rollout_stage(database: Database) -> None:
    from central.storage.models import RolloutStage
    from central.web.province import compute_rollup

    feed(database, f.birth(AGENT, START), f.camera_status(AGENT, "cam-1", "ok", START),
         f.website_status(AGENT, "dinkes", "up", "fresh", START))
    with database.session() as session:
        web = compute_rollup(session).by_code["16.71"]
        # Nothing was planned by hand (stored "planned"), yet the live data proves more.
        assert web.stored_stage == "planned" and web.stage is RolloutStage.WEBSITES_INTEGRATED
    assert _public_summary(database)["stage"] == web.stage.value == "websites_integrated"


def test_website_uptime_is_availability_whatever_the_freshness(database: Database) -> None:
    feed(database,
         f.website_status(AGENT, "dinkes", "up", "fresh", START),
         f.website_status(AGENT, "dinkes", "degraded", "stale", START + dt.timedelta(hours=1)),
         f.website_status(AGENT, "dinkes", "down", "stale", START + dt.timedelta(hours=2)),
         f.website_status(AGENT, "dinkes", "up", "fresh", START + dt.timedelta(hours=3)))
    with database.session(write=True) as session:
        # Silent for 3 intervals (3 h) after the last report: unknown from 7 h on, left out like cameras'.
        assert maintenance.mark_silent_websites(session.connection(), START + dt.timedelta(hours=7), dt.timedelta(minutes=15))
    with database.session() as session:
        site = session.scalars(select(Website)).one()
        uptime = queries.website_uptimes(session, [site.id], START + dt.timedelta(hours=9), dt.timedelta(days=1))
        # up 1 h, degraded 1 h (reachable: up), down 1 h, up 4 h, then 2 h unknown
        assert uptime == {site.id: 6 / 7}


def test_silent_websites_become_unknown_after_three_of_their_intervals(database: Database) -> None:
    hourly = dt.timedelta(hours=1)
    feed(database,
         f.website_status(AGENT, "hourly", "up", "fresh", START), f.website_status(AGENT, "hourly", "up", "fresh", START + hourly),
         f.website_status(AGENT, "often", "up", "fresh", START), f.website_status(AGENT, "often", "up", "fresh", START + hourly))
    feed(database, *(f.website_status(AGENT, "often", "up", "fresh", START + hourly + dt.timedelta(minutes=m))
                     for m in (5, 10)))
    silence = dt.timedelta(minutes=15)
    with database.session(write=True) as session:
        silent = maintenance.mark_silent_websites(session.connection(), START + 2 * hourly, silence)
    with database.session() as session:
        states = dict(session.execute(select(Website.website_id, Website.state)).all())
        assert states == {"hourly": "fresh", "often": "unknown"} and len(silent) == 1
        often = session.scalars(select(Website).where(Website.website_id == "often")).one()
        assert (often.reason, often.availability, often.freshness) == ("no_report", "", "unknown")
        periods = session.scalars(select(WebsiteStatusChange).where(WebsiteStatusChange.website_pk == often.id)
                                  .order_by(WebsiteStatusChange.id)).all()
        assert [(p.state, p.ended_at is None) for p in periods] == [("fresh", False), ("unknown", True)]
    with database.session(write=True) as session:
        assert maintenance.mark_silent_websites(session.connection(), START + 5 * hourly, silence) != []
    with database.session() as session:
        assert session.scalars(select(Website.state).where(Website.website_id == "hourly")).one() == "unknown"


def test_opd_is_one_rule_in_python_and_sql(database: Database) -> None:
    feed(database, f.inventory(AGENT, ["cam-1", "cam-2"], START))
    with database.session(write=True) as session:
        session.scalars(select(Camera).where(Camera.camera_id == "cam-2")).one().owner_opd = "Dinkes"
    with database.session() as session:
        rows = session.execute(select(Camera, Camera.opd).order_by(Camera.camera_id)).all()
        assert [(camera.opd, opd) for camera, opd in rows] == [("Dishub", "Dishub"), ("Dinkes", "Dinkes")]
        assert rows[0][0].full_id == f"{AGENT}/cam-1"
        assert queries.count_cameras(session, queries.CameraFilter(opd="Dishub")) == 1


def test_public_summary_and_web_count_one_way(database: Database) -> None:
    """The per-regency counts have one definition: the public RegencySummary and the web tile agree on
    every figure, also when the reporting agent checks the province's own offices."""
    from central.config import ProvinceConfig
    from central.web.province import compute_rollup

    feed(database, f.birth(AGENT, START), f.camera_status(AGENT, "cam-1", "ok", START),
         f.camera_status(AGENT, "cam-2", "offline", START), f.website_status(AGENT, "dinkes", "up", "stale", START))
    with database.session(write=True) as session:
        maintenance.mark_silent_cameras(session.connection(), START + dt.timedelta(hours=1), dt.timedelta(minutes=15))
    figures = ("cameras_ok", "cameras_degraded", "cameras_offline", "cameras_unknown", "cameras_total",
               "websites_fresh", "websites_stale", "websites_down", "websites_total", "agents_total")
    for province in (None, ProvinceConfig(agents=[AGENT])):
        with database.session() as session:
            web = compute_rollup(session, province=province).by_code["16.71"]
        public = _public_summary(database, tuple(province.agents) if province else ())
        assert {name: public[name] for name in figures} == {name: getattr(web, name) for name in figures}
        assert web.cameras_total == (0 if province else 2)


def test_check_details_are_the_newest_measured_reports_whatever_arrives_later(database: Database) -> None:
    """The badge words the report the camera's status comes from: one that arrives out of order, older
    than it, goes into the history only, so its details are not the ones shown."""
    skew = [CheckOutcome(check="onvif", outcome="warn", reason="clock_skew", details={"offset_h": 3})]
    late = [CheckOutcome(check="rtsp", outcome="fail", reason="rtsp_timeout")]
    feed(database, f.camera_status(AGENT, "cam-1", "degraded", START + dt.timedelta(hours=2), "clock_skew", skew),
         f.camera_status(AGENT, "cam-2", "ok", START))
    feed(database, f.camera_status(AGENT, "cam-1", "offline", START + dt.timedelta(hours=1), "rtsp_timeout", late))
    with database.session() as session:
        pks = {camera_id: pk for camera_id, pk in session.execute(select(Camera.camera_id, Camera.id))}
        camera = session.get(Camera, pks["cam-1"])
        assert camera is not None and camera.reason == "clock_skew"
        details = queries.latest_check_details(session, [pks["cam-1"], pks["cam-2"], 999])
    assert [d["reason"] for d in details[pks["cam-1"]]] == ["clock_skew"]  # type: ignore[index]
    assert set(details) == {pks["cam-1"], pks["cam-2"]}
