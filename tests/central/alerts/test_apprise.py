"""Alert channels through Apprise, end to end: central.toml and the admin page name a URL, the alert
service delivers to local receivers (Apprise's json:// and form:// targets, an ntfy-style endpoint),
and a channel URL's token never reaches a page, the log or a delivery's error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from central.alerts.service import AlertService
from central.alerts.tables import AlertDelivery
from central.config import CentralConfig, ConfigError, parse_config
from central.storage.db import Database
from central.web import create_app
from tests.central.alerts.receivers import WebhookServer
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import seed

TOKEN = "123456789-bot-token-SECRET"


def _host(receiver: WebhookServer) -> str:
    return receiver.url.split("//", 1)[1].split("/", 1)[0]


def _config(url: str, apprise: list[dict[str, Any]], **alerts: Any) -> CentralConfig:
    return parse_config(
        {"database": {"url": url}, "alerts": {"apprise": apprise, "delivery": {"max_attempts": 2},
                                              "webhook_allowed_networks": ["127.0.0.0/8"], **alerts}}
    )


class _CentralLog(logging.Handler):
    """What central's log receives: a handler on the root logger, as ``scc-central`` sets up (DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def central_log() -> Iterator[_CentralLog]:
    root = logging.getLogger()
    handler, level = _CentralLog(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _deliveries(database: Database) -> dict[str, AlertDelivery]:
    with database.session() as session:
        return {d.channel: d for d in session.scalars(select(AlertDelivery))}


def test_apprise_channels_from_central_toml_reach_local_receivers(
    sqlite_url: str, webhook_server: WebhookServer, central_log: _CentralLog
) -> None:
    host = _host(webhook_server)
    config = _config(sqlite_url, [
        {"name": "json-hook", "url": f"json://{host}/apprise-json?token={TOKEN}"},
        {"name": "form-hook", "url": f"form://{host}/apprise-form"},
        {"name": "ntfy", "url": f"ntfy://{host}/scc-alerts"},
    ], webhooks=[{"name": "signed", "url": f"http://{host}/hook/{TOKEN}", "secret": "s"}])  # fmt: skip
    database = Database(sqlite_url)
    service = AlertService(config, database)
    for name in ("json-hook", "form-hook", "ntfy", "signed"):
        service.queue_test(name, "admin")
    result = service.tick()
    service.close()
    assert result.dispatched.sent == 4
    received = {request.path.split("?")[0]: request for request in webhook_server.drain()}
    assert received["/apprise-json"].json()["title"].startswith("[SCC] UJI")
    assert b"title=%5BSCC%5D+UJI" in received["/apprise-form"].body
    ntfy = received["/"].json()
    assert ntfy["topic"] == "scc-alerts" and ntfy["title"].startswith("[SCC] UJI")
    assert {d.status for d in _deliveries(database).values()} == {"sent"}
    assert f"/hook/{TOKEN}" in received  # the signed webhook beside them
    assert TOKEN not in central_log.text
    database.dispose()


def test_a_failed_apprise_send_is_retried_and_its_error_shows_no_token(
    sqlite_url: str, central_log: _CentralLog
) -> None:
    url = f"json://scc:pa55-{TOKEN}@127.0.0.1:1/hook/{TOKEN}?token={TOKEN}"  # nothing listens on port 1
    config = _config(sqlite_url, [{"name": "dead", "url": url}])
    assert TOKEN not in repr(config) and TOKEN not in config.model_dump_json()
    database = Database(sqlite_url)
    service = AlertService(config, database)
    service.queue_test("dead", "admin")
    result = service.tick()
    service.close()
    assert result.dispatched.sent == 0
    delivery = _deliveries(database)["dead"]
    assert delivery.status == "pending" and delivery.attempts == 1  # retried later
    assert delivery.last_error.startswith("json://… did not take the notification")
    assert TOKEN not in delivery.last_error and "pa55" not in delivery.last_error
    assert "did not take the notification" in central_log.text  # the failure is logged, scrubbed
    assert TOKEN not in central_log.text and "pa55" not in central_log.text
    database.dispose()


def test_a_url_apprise_cannot_send_to_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _config(sqlite_url, [{"name": "typo", "url": f"tgramm://{TOKEN}/42"}])
    assert "tgramm://…" in str(refused.value) and TOKEN not in str(refused.value)


def test_admin_adds_an_apprise_url_and_alerts_reach_it(
    sqlite_url: str, tmp_path: Path, webhook_server: WebhookServer
) -> None:
    database = Database(sqlite_url)
    seed(database, regencies=("16.71",), cameras_per_regency=1)
    app: Flask = create_app(make_config(tmp_path, str(database.url)),
                            {"TESTING": True, "DATABASE": database, "SECRET_KEY": "t"})  # fmt: skip
    client = app.test_client()
    log_in(client, "admin")
    token = csrf_from(client.get("/alerts/channels").text)
    url = f"json://{_host(webhook_server)}/from-admin/{TOKEN}"
    for name, target in (("typo", f"tgramm://{TOKEN}/42"), ("ops-apprise", url)):
        response = client.post("/alerts/channels", data={
            "csrf_token": token, "name": name, "kind": "apprise", "url": target, "min_severity": "warning",
        })  # fmt: skip
        assert response.status_code == 302
    page = client.get("/alerts/channels").text
    assert "ops-apprise" in page and "json://…" in page and "typo" not in page
    assert TOKEN not in page
    service = AlertService(_config(sqlite_url, []), database)  # the alerts process: channels from the database
    service.queue_test("ops-apprise", "admin")
    service.tick()
    service.close()
    assert _deliveries(database)["ops-apprise"].status == "sent"
    tests = [r for r in webhook_server.drain() if r.json()["title"].startswith("[SCC] UJI")]
    assert [r.path for r in tests] == [f"/from-admin/{TOKEN}"]
    database.dispose()


def test_an_apprise_url_cannot_reach_what_a_webhook_may_not(sqlite_url: str) -> None:
    config = parse_config({"database": {"url": sqlite_url},
                           "alerts": {"apprise": [{"name": "probe", "url": "json://169.254.169.254/latest/meta-data"}]}})
    database = Database(sqlite_url)
    service = AlertService(config, database)
    service.queue_test("probe", "admin")
    result = service.tick()
    service.close()
    assert result.dispatched.failed == 1  # refused for good, never sent
    assert _deliveries(database)["probe"].last_error.startswith("json://…: ")
    database.dispose()
