"""Whose alerts are: the province's own offices ([province] agents) are filed under "16", as the pages count them.

A scripted timeline through storage, the alert service and real receivers (HTTP webhooks, an SMTP server):
the province's agent carries Palembang (16.71) on its certificate, yet its cameras and websites alert as
the province's offices, reach the channels that filter on "16" and not Palembang's, and say so in words.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from central.alerts.service import AlertService
from central.alerts.tables import AlertRecord
from central.config import CentralConfig, parse_config
from central.storage.db import Database
from central.storage.models import Website
from shared.messages import AlertEvent
from tests.central.alerts.conftest import Clock
from tests.central.alerts.receivers import SMTP_PASSWORD, SMTP_USER, SmtpServer, WebhookServer
from tests.central.alerts.test_delivery import change, seed_regency, ticks

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
PROVINCE_AGENT = "agent-pemprov"


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def make_config(url: str, webhook: WebhookServer, smtp: SmtpServer) -> CentralConfig:
    base = webhook.url.rsplit("/", 1)[0]
    data: dict[str, Any] = {
        "database": {"url": url},
        "province": {"agents": [PROVINCE_AGENT]},
        "alerts": {
            "webhooks": [
                {"name": "kota", "url": f"{base}/kota", "regencies": ["16.71"]},
                {"name": "pemprov", "url": f"{base}/pemprov", "regencies": ["16"]},
            ],
            "email": [{"name": "sekda", "to": ["sekda@sumselprov.go.id"], "regencies": ["16"]}],
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "starttls",
                "username": SMTP_USER,
                "password": SMTP_PASSWORD,
                "sender": "scc@sumselprov.go.id",
                "ca_file": str(smtp.ca_file),
            },
            "webhook_allowed_networks": ["127.0.0.1/32"],
        },
    }
    return parse_config(data)


def events_by_hook(webhook: WebhookServer) -> dict[str, list[AlertEvent]]:
    result: dict[str, list[AlertEvent]] = {"/kota": [], "/pemprov": []}
    for request in webhook.drain():
        result[request.path].append(AlertEvent.model_validate_json(request.body))
    return result


def test_the_province_offices_alert_as_their_own_owner(
    sqlite_url: str, webhook_server: WebhookServer, smtp_server: SmtpServer
) -> None:
    database = Database(sqlite_url)
    seed_regency(database, "16.71", "agent-plg", 3)
    seed_regency(database, "16.71", PROVINCE_AGENT, 6)  # its certificate says Palembang
    with database.session(write=True) as session:
        session.add(
            Website(agent_name=PROVINCE_AGENT, website_id="diskominfo", regency_code="16.71",
                    url="https://diskominfo.sumselprov.go.id", state="fresh", availability="up",
                    freshness="fresh", last_check_at=T0, status_since=T0 - timedelta(days=3),
                    first_seen_at=T0 - timedelta(days=3))
        )  # fmt: skip
    clock = Clock(T0)
    service = AlertService(make_config(sqlite_url, webhook_server, smtp_server), database, clock=clock)

    # One camera of each owner breaks: each owner's channel hears of its own camera only.
    change(database, "agent-plg", "cam-00", "offline", T0)
    change(database, PROVINCE_AGENT, "cam-00", "offline", T0)
    ticks(service, clock, T0 + minutes(12))
    heard = events_by_hook(webhook_server)
    assert [(e.rule, e.regency, e.subject) for e in heard["/kota"]] == [
        ("camera_offline", "16.71", "kamera cam-00 (agent-plg/cam-00)")
    ]
    assert [(e.rule, e.regency, e.subject) for e in heard["/pemprov"]] == [
        ("camera_offline", "16", "kamera cam-00 (agent-pemprov/cam-00)")
    ]
    [mail] = smtp_server.drain()
    body = mail.message.get_payload(0).get_payload(decode=True).decode() if mail.message.is_multipart() else (
        mail.message.get_payload(decode=True).decode()
    )
    assert "Wilayah      : Pemprov Sumatera Selatan" in body, body
    assert "agent-pemprov/cam-00" in mail.message["Subject"]

    # The province's offices lose most of their cameras at once: one outage of theirs, named as them.
    for n in range(1, 6):
        change(database, PROVINCE_AGENT, f"cam-{n:02d}", "offline", T0 + minutes(13) + timedelta(seconds=10 * n))
    # ...and their website goes down.
    with database.session(write=True) as session:
        site = session.scalars(select(Website).where(Website.agent_name == PROVINCE_AGENT)).one()
        site.state, site.availability, site.reason, site.status_since = "down", "down", "unreachable", T0 + minutes(13)
    ticks(service, clock, T0 + minutes(40))
    heard = events_by_hook(webhook_server)
    assert heard["/kota"] == [], "nothing of the province's offices reaches Palembang's channel"
    by_rule = {e.rule: e for e in heard["/pemprov"]}
    assert {"regency_outage", "website_down"} <= set(by_rule), heard["/pemprov"]
    outage = by_rule["regency_outage"]
    assert (outage.regency, outage.subject) == ("16", "Pemprov Sumatera Selatan")
    assert outage.message.startswith("Pemprov Sumatera Selatan: ") and "dari 6 kamera offline" in outage.message
    assert by_rule["website_down"].regency == "16"
    service.close()

    with database.session() as session:
        filed = {(a.rule, a.subject_id): a.regency_code for a in session.scalars(select(AlertRecord))}
    assert filed[("camera_offline", "agent-plg/cam-00")] == "16.71"
    assert {code for (rule, subject), code in filed.items() if subject.startswith(PROVINCE_AGENT)} == {"16"}
    assert filed[("regency_outage", "16")] == "16" and ("regency_outage", "16.71") not in filed
    database.dispose()
