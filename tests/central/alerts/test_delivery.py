"""End to end through storage: a failing camera told once per channel (webhook, e-mail, MQTT) and recovered once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from central.alerts.senders import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook_signature
from central.alerts.service import AlertService
from central.alerts.tables import AlertDelivery, AlertRecord
from central.config import CentralConfig, parse_config
from central.storage.db import Database
from central.storage.models import SilenceRecord
from shared import topics
from shared.messages import AlertEvent
from tests.central.alerts.conftest import Clock
from tests.central.alerts.receivers import SMTP_PASSWORD, SMTP_USER, SmtpServer, WebhookServer
from tests.central.alerts.seed import add_agent, add_camera, set_status
from tests.fixtures.broker import CENTRAL, READER, TlsBroker

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
SECRET = "webhook-signing-secret"
ONE_MINUTE = timedelta(minutes=1)


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def make_config(url: str, webhook: WebhookServer, **alerts: Any) -> CentralConfig:
    data: dict[str, Any] = {
        "database": {"url": url},
        "alerts": {
            "webhooks": [{"name": "ops", "url": webhook.url, "secret": SECRET, "min_severity": "warning"}],
            "delivery": {"backoff_initial_s": 60, "max_attempts": 3},
            "webhook_allowed_networks": ["127.0.0.1/32"],  # the test receiver
            **alerts,
        },
    }
    return parse_config(data)


def seed_regency(database: Database, regency: str, agent: str, cameras: int) -> None:
    with database.session(write=True) as session:
        add_agent(session, agent, regency, T0 - timedelta(days=1))
        session.flush()
        for n in range(cameras):
            add_camera(
                session, agent, f"cam-{n:02d}", regency, T0 - timedelta(days=1), opd="Dinas Perhubungan"
            )


def change(database: Database, agent: str, camera: str, status: str, at: datetime) -> None:
    with database.session(write=True) as session:
        set_status(session, agent, camera, status, at)


def ticks(service: AlertService, clock: Clock, until: datetime, step: timedelta = ONE_MINUTE) -> None:
    while clock.now < until:
        clock.now += step
        service.tick()


def test_camera_failure_one_alert_per_channel_and_one_recovery(
    sqlite_url: str, webhook_server: WebhookServer, smtp_server: SmtpServer, tls_broker: TlsBroker
) -> None:
    config = make_config(
        sqlite_url,
        webhook_server,
        email=[{"name": "pimpinan", "to": ["kadis@sumselprov.go.id"]}],
        smtp={
            "host": smtp_server.host,
            "port": smtp_server.port,
            "security": "starttls",
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            "sender": "scc@sumselprov.go.id",
            "ca_file": str(smtp_server.ca_file),
        },
        mqtt={"enabled": True},
    )
    pki = tls_broker.pki
    config = config.model_copy(
        update={
            "broker": config.broker.model_copy(
                update={
                    "host": tls_broker.host,
                    "port": tls_broker.port,
                    "ca": pki.ca_cert,
                    "cert": pki.cert(CENTRAL),
                    "key": pki.key(CENTRAL),
                }
            )
        }
    )
    reader = tls_broker.connect(READER)
    reader.subscribe_and_wait(topics.PUBLIC_ALERTS_TOPIC)
    database = Database(sqlite_url)
    seed_regency(database, "16.71", "agent-plg", 4)
    clock = Clock(T0)
    service = AlertService(config, database, clock=clock)

    change(database, "agent-plg", "cam-01", "offline", T0)
    ticks(service, clock, T0 + minutes(9))
    assert webhook_server.drain() == [] and smtp_server.drain() == []

    ticks(service, clock, T0 + minutes(12))
    [hook] = webhook_server.drain()
    event = AlertEvent.model_validate_json(hook.body)
    assert (event.rule, event.state, event.regency) == ("camera_offline", "firing", "16.71")
    assert event.started_at == T0
    assert verify_webhook_signature(
        SECRET, hook.headers[TIMESTAMP_HEADER], hook.body, hook.headers[SIGNATURE_HEADER]
    )
    assert not verify_webhook_signature(
        "wrong", hook.headers[TIMESTAMP_HEADER], hook.body, hook.headers[SIGNATURE_HEADER]
    )
    [mail] = smtp_server.drain()
    assert mail.tls and mail.authenticated
    assert mail.recipients == ["kadis@sumselprov.go.id"]
    assert mail.message["Subject"].startswith("[SCC] BERMASALAH: Kamera offline")
    published = AlertEvent.model_validate_json(reader.next_message().payload)
    assert (published.alert_id, published.state) == (event.alert_id, "firing")

    # A restart (a new service on the same database) neither forgets nor re-sends.
    service.close()
    service = AlertService(config, database, clock=clock)
    change(database, "agent-plg", "cam-01", "ok", T0 + minutes(30))
    ticks(service, clock, T0 + minutes(34))
    assert webhook_server.drain() == [] and smtp_server.drain() == []
    reader.assert_no_message(timeout=0.2)

    ticks(service, clock, T0 + minutes(40))
    [hook] = webhook_server.drain()
    recovered = AlertEvent.model_validate_json(hook.body)
    assert (recovered.alert_id, recovered.state, recovered.resolved_at) == (
        event.alert_id,
        "resolved",
        T0 + minutes(35),
    )
    [mail] = smtp_server.drain()
    assert mail.message["Subject"].startswith("[SCC] PULIH: Kamera offline")
    published = AlertEvent.model_validate_json(reader.next_message().payload)
    assert published.state == "resolved" and published.seq > 0

    ticks(service, clock, T0 + minutes(60))
    assert webhook_server.drain() == [] and smtp_server.drain() == []
    reader.assert_no_message(timeout=0.2)
    service.close()
    with database.session() as session:
        statuses = sorted(session.scalars(select(AlertDelivery.status)))
    assert statuses == ["sent"] * 6
    database.dispose()


def test_flapping_camera_sends_nothing(sqlite_url: str, webhook_server: WebhookServer) -> None:
    database = Database(sqlite_url)
    seed_regency(database, "16.71", "agent-plg", 4)
    clock = Clock(T0)
    service = AlertService(make_config(sqlite_url, webhook_server), database, clock=clock)
    for n in range(12):  # 7 minutes down, 3 up, for two hours: never down 10 minutes in a row
        change(database, "agent-plg", "cam-02", "offline", T0 + minutes(10 * n))
        ticks(service, clock, T0 + minutes(10 * n + 7), step=minutes(2))
        change(database, "agent-plg", "cam-02", "ok", T0 + minutes(10 * n + 7))
        ticks(service, clock, T0 + minutes(10 * n + 10), step=minutes(2))
    assert webhook_server.drain() == []
    with database.session() as session:
        assert session.scalar(select(AlertRecord.id)) is None
    database.dispose()


def test_regency_outage_is_one_notification(sqlite_url: str, webhook_server: WebhookServer) -> None:
    database = Database(sqlite_url)
    seed_regency(database, "16.06", "agent-muba", 10)
    seed_regency(database, "16.71", "agent-plg", 3)
    clock = Clock(T0)
    service = AlertService(make_config(sqlite_url, webhook_server), database, clock=clock)
    for n in range(8):
        change(database, "agent-muba", f"cam-{n:02d}", "offline", T0 + timedelta(seconds=20 * n))
    ticks(service, clock, T0 + minutes(30))
    [hook] = webhook_server.drain()
    event = hook.json()
    assert (event["rule"], event["regency"], event["severity"]) == ("regency_outage", "16.06", "critical")
    assert "8 dari 10 kamera" in event["message"]
    with database.session() as session:
        grouped = session.scalars(select(AlertRecord).where(AlertRecord.rule == "camera_offline")).all()
        assert len(grouped) == 8 and {a.suppressed_by for a in grouped} == {"grouped:regency_outage:16.06"}

    for n in range(8):
        change(database, "agent-muba", f"cam-{n:02d}", "ok", T0 + minutes(40))
    ticks(service, clock, T0 + minutes(60))
    [hook] = webhook_server.drain()
    assert (hook.json()["rule"], hook.json()["state"]) == ("regency_outage", "resolved")
    database.dispose()


def test_maintenance_window_keeps_quiet(sqlite_url: str, webhook_server: WebhookServer) -> None:
    database = Database(sqlite_url)
    seed_regency(database, "16.71", "agent-plg", 4)
    with database.session(write=True) as session:
        session.add(
            SilenceRecord(
                kind="maintenance",
                target_kind="camera",
                target="agent-plg/cam-03",
                starts_at=T0,
                ends_at=T0 + minutes(120),
                reason="ganti kamera",
            )
        )
    clock = Clock(T0)
    service = AlertService(make_config(sqlite_url, webhook_server), database, clock=clock)
    change(database, "agent-plg", "cam-03", "offline", T0)
    change(database, "agent-plg", "cam-03", "ok", T0 + minutes(90))
    ticks(service, clock, T0 + minutes(130), step=minutes(5))
    assert webhook_server.drain() == []
    database.dispose()


@pytest.mark.parametrize(
    ("statuses", "expected_status", "attempts"),
    [([500, 503], "sent", 3), ([500, 500, 500], "failed", 3), ([404], "failed", 1)],
)
def test_webhook_retries_with_backoff_then_gives_up(
    sqlite_url: str, webhook_server: WebhookServer, statuses: list[int], expected_status: str, attempts: int
) -> None:
    webhook_server.statuses.extend(statuses)
    database = Database(sqlite_url)
    seed_regency(database, "16.71", "agent-plg", 1)
    clock = Clock(T0)
    service = AlertService(make_config(sqlite_url, webhook_server), database, clock=clock)
    service.queue_test("ops", "admin")
    service.tick()
    first = webhook_server.drain()
    assert len(first) == 1
    # 60 s, then 120 s: nothing is due before each wait is over.
    clock.now += timedelta(seconds=59)
    service.tick()
    clock.now += timedelta(seconds=2)
    service.tick()
    clock.now += timedelta(seconds=121)
    service.tick()
    clock.now += timedelta(hours=1)
    service.tick()
    requests = first + webhook_server.drain()
    assert len(requests) == attempts
    assert len({r.headers["X-SCC-Delivery"] for r in requests}) == 1  # the same delivery id on every retry
    with database.session() as session:
        delivery = session.scalars(select(AlertDelivery)).one()
    assert (delivery.status, delivery.attempts) == (expected_status, attempts)
    if expected_status == "failed":
        assert delivery.last_error.startswith("HTTP")
    database.dispose()


def test_a_tick_builds_again_only_the_channels_edited_since_the_last(
    sqlite_url: str, webhook_server: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Senders hold clients (an HTTP client's TLS context alone takes ~25 ms to make, an MQTT sender its
    connection): each tick keeps those of unchanged channels, and an edit in the admin pages takes effect at
    the next tick."""
    from central.alerts import service as service_module
    from central.alerts.tables import AlertChannelConfig

    built: list[list[str]] = []

    def build_senders(config: Any, broker: Any, channels: Any) -> Any:
        built.append(sorted(c.name for c in channels))
        return real_build(config, broker, channels)

    real_build = service_module.build_senders
    monkeypatch.setattr(service_module, "build_senders", build_senders)
    database = Database(sqlite_url)
    service = AlertService(make_config(sqlite_url, webhook_server), database, clock=Clock(T0))
    with database.session(write=True) as session:
        session.add(AlertChannelConfig(name="desk", kind="webhook", enabled=True,
                                       settings={"url": webhook_server.url, "min_severity": "critical"}))
    first = service._refresh_senders()
    again = service._refresh_senders()
    assert sorted(first) == ["desk", "ops"] and all(again[name] is sender for name, sender in first.items())
    with database.session(write=True) as session:
        row = session.scalars(select(AlertChannelConfig).where(AlertChannelConfig.name == "desk")).one()
        row.settings = {"url": webhook_server.url, "min_severity": "warning"}
    edited = service._refresh_senders()
    assert edited["ops"] is first["ops"] and edited["desk"] is not first["desk"]
    assert built == [["desk", "ops"], [], ["desk"]]
    with database.session(write=True) as session:
        session.execute(AlertChannelConfig.__table__.update().values(enabled=False))
    assert sorted(service._refresh_senders()) == ["ops"]
    service.close()
