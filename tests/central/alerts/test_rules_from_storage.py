"""Agent, host and website rules read from storage: offline agent, full disk, hot box, expiring certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from central.alerts.service import AlertService
from central.alerts.tables import AlertRecord
from central.config import parse_config
from central.storage.db import Database
from central.storage.models import Agent, HostMetric, Website
from tests.central.alerts.conftest import Clock

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def metric(agent: str, ts: datetime, disk_percent: float, temperature: float) -> HostMetric:
    return HostMetric(
        agent_name=agent, ts=ts, received_at=ts, cpu_percent=5, memory_used_bytes=1, memory_total_bytes=2,
        disk_used_bytes=int(disk_percent * 10), disk_total_bytes=1000, temperatures_c={"cpu": temperature},
        uptime_s=100, net_bytes_sent=0, net_bytes_recv=0, outbox_depth=0, outbox_bytes=0, outbox_dropped_total=0,
    )  # fmt: skip


def test_agent_host_and_website_rules(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session(write=True) as session:
        session.add_all(
            [
                Agent(name="agent-oku", regency_code="16.01", online=False, presence_since=T0 - timedelta(minutes=6),
                      offline_reason="connection_lost"),
                Agent(name="agent-lht", regency_code="16.04", online=True, presence_since=T0 - timedelta(days=1)),
            ]
        )  # fmt: skip
        session.flush()
        for minute in range(0, 40, 2):  # disk full for 20 minutes, CPU hot only for the last 4
            ts = T0 - timedelta(minutes=40 - minute)
            session.add(metric("agent-lht", ts, 95 if minute >= 20 else 50, 85 if minute >= 36 else 60))
        session.add(
            Website(agent_name="agent-lht", website_id="dinkes", regency_code="16.04", url="https://dinkes.lahatkab.go.id",
                    state="fresh", availability="up", freshness="fresh", tls_days_left=2,
                    last_check_at=T0 - timedelta(minutes=1), status_since=T0 - timedelta(days=3))
        )  # fmt: skip
    config = parse_config({"database": {"url": sqlite_url}})
    AlertService(config, database, clock=Clock(T0), senders={}).evaluate_once()
    with database.session() as session:
        fired = {(a.rule, a.subject_id): a for a in session.scalars(select(AlertRecord))}
    assert set(fired) == {
        ("agent_offline", "agent-oku"),
        ("host_disk", "agent-lht"),
        ("website_certificate", "agent-lht/dinkes"),
    }
    assert fired[("website_certificate", "agent-lht/dinkes")].severity == "critical"
    assert "2 hari" in fired[("website_certificate", "agent-lht/dinkes")].message
    assert fired[("host_disk", "agent-lht")].started_at == T0 - timedelta(minutes=20)
    database.dispose()


def test_a_maintenance_alerts_only_once_it_outlasts_its_announced_end(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session(write=True) as session:
        session.add(Agent(name="agent-lht", regency_code="16.04", online=True, presence_since=T0 - timedelta(days=1)))
        session.flush()
        session.add_all([
            Website(agent_name="agent-lht", website_id="within", regency_code="16.04", url="https://a.lahatkab.go.id",
                    state="maintenance", availability="maintenance", freshness="unknown", reason="maintenance",
                    last_check_at=T0 - timedelta(minutes=1), status_since=T0 - timedelta(hours=5)),
            Website(agent_name="agent-lht", website_id="overrun", regency_code="16.04", url="https://b.lahatkab.go.id",
                    state="down", availability="down", freshness="unknown", reason="maintenance_overrun",
                    message="in maintenance since 2025-03-02 20:00Z, announced to end 2025-03-02 20:10Z",
                    last_check_at=T0 - timedelta(minutes=1), status_since=T0 - timedelta(hours=5)),
        ])  # fmt: skip
    config = parse_config({"database": {"url": sqlite_url}})
    AlertService(config, database, clock=Clock(T0), senders={}).evaluate_once()
    with database.session() as session:
        fired = {(a.rule, a.subject_id): a for a in session.scalars(select(AlertRecord))}
    assert set(fired) == {("website_down", "agent-lht/overrun")}
    assert "maintenance_overrun" in fired[("website_down", "agent-lht/overrun")].message
    database.dispose()


def test_a_maintenance_neither_raises_nor_clears_a_stale_alert(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session(write=True) as session:
        session.add(Agent(name="agent-lht", regency_code="16.04", online=True, presence_since=T0 - timedelta(days=30)))
        session.flush()
        session.add(
            Website(agent_name="agent-lht", website_id="dinkes", regency_code="16.04", url="https://dinkes.lahatkab.go.id",
                    state="stale", availability="up", freshness="stale", reason="stale",
                    last_update=T0 - timedelta(days=90), last_check_at=T0 - timedelta(minutes=1),
                    status_since=T0 - timedelta(days=10))
        )  # fmt: skip
    config = parse_config({"database": {"url": sqlite_url}})
    clock = Clock(T0)
    service = AlertService(config, database, clock=clock, senders={})
    service.evaluate_once()
    with database.session(write=True) as session:
        site = session.scalars(select(Website)).one()
        site.state, site.availability, site.freshness, site.reason = "maintenance", "maintenance", "unknown", "maintenance"
        site.status_since = site.last_check_at = T0 + timedelta(minutes=5)
    for hours in (1, 6):
        clock.now = T0 + timedelta(hours=hours)
        service.evaluate_once()
    with database.session() as session:
        alerts = {a.rule: a for a in session.scalars(select(AlertRecord))}
    assert set(alerts) == {"website_stale"}
    assert alerts["website_stale"].status == "firing" and alerts["website_stale"].good_since is None
    database.dispose()


def test_an_agent_whose_reports_are_refused_or_whose_clock_runs_ahead_fires_an_alert(sqlite_url: str) -> None:
    """Quarantined reports (written the way the ingest writes them) and a clock flag each fire, in Indonesian."""
    from central.ingest.agents import AgentDirectory
    from central.ingest.store import BatchWriter, Received
    from tests.central import factories as f

    database = Database(sqlite_url)
    with database.session(write=True) as session:
        session.add_all([Agent(name="agent-plg", regency_code="16.71", online=True, presence_since=T0 - timedelta(days=1)),
                         Agent(name="agent-oku", regency_code="16.01", online=True, presence_since=T0 - timedelta(days=1),
                               clock_ahead_s=3000.0, clock_off_since=T0 - timedelta(minutes=10))])
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({"agent-plg": "16.71", "agent-oku": "16.01"})))
    for minute in (9, 6, 3):  # every report of the last ten minutes refused: a camera never inventoried
        writer.write([Received(*f.wire(f.camera_status("agent-plg", "ghost", "ok", T0 - timedelta(minutes=minute))),
                               T0 - timedelta(minutes=minute))])
    config = parse_config({"database": {"url": sqlite_url}})
    AlertService(config, database, clock=Clock(T0), senders={}).evaluate_once()
    with database.session() as session:
        fired = {(a.rule, a.subject_id): a for a in session.scalars(select(AlertRecord))}
    assert set(fired) == {("agent_refused", "agent-plg"), ("agent_clock", "agent-oku")}
    assert fired[("agent_refused", "agent-plg")].message == "3 laporan dikarantina, alasan terakhir: unknown_camera"
    assert fired[("agent_clock", "agent-oku")].message == "jam agen 3000 detik lebih cepat dari server pusat"
    database.dispose()
