"""Secrets in central.toml stay out of reprs, JSON dumps, logs and pages; webhook URLs show their host only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient

from central.alerts.config import WebhookChannel
from central.alerts.routing import list_channels
from central.alerts.senders import DeliveryError, WebhookSender
from central.alerts.tables import AlertChannelConfig
from central.config import parse_config
from central.redact import database_url, display_url
from central.storage.db import Database
from central.web import create_app
from shared.messages import AlertEvent, AlertSeverity, utc_now
from tests.central.web.conftest import log_in

DB_PASSWORD = "db-pa55word-xyz"
SECRET_KEY = "flask-session-key-xyz"
SMTP_PASSWORD = "smtp-pa55word-xyz"
HOOK_SECRET = "hook-signing-secret-xyz"
SLACK_TOKEN = "T000/B000/slacktoken-xyz"
TELEGRAM_TOKEN = "123456:telegramtoken-xyz"
SECRETS = (DB_PASSWORD, SECRET_KEY, SMTP_PASSWORD, HOOK_SECRET, SLACK_TOKEN, TELEGRAM_TOKEN)


def config_data(
    database: str = f"postgresql+psycopg://scc:{DB_PASSWORD}@db.example/scc",
) -> dict[str, object]:
    return {
        "database": {"url": database},
        "web": {"secret_key": SECRET_KEY},
        "alerts": {
            "smtp": {"host": "smtp.example", "username": "scc", "password": SMTP_PASSWORD},
            "webhooks": [
                {
                    "name": "slack",
                    "url": f"https://hooks.slack.com/services/{SLACK_TOKEN}",
                    "secret": HOOK_SECRET,
                },
                {
                    "name": "tg",
                    "url": f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage?chat_id=-100",
                },
            ],
        },
    }


def assert_clean(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"leaked {leaked}"


def test_repr_str_and_json_dump_of_the_config_hold_no_secret() -> None:
    config = parse_config(config_data())
    for text in (
        repr(config),
        str(config),
        config.model_dump_json(),
        repr(config.alerts),
        repr(config.database),
    ):
        assert_clean(text)
    assert "postgresql+psycopg://scc:***@db.example/scc" in repr(config)
    assert "https://hooks.slack.com/…" in repr(config)


def test_the_code_still_gets_the_real_values() -> None:
    config = parse_config(config_data())
    assert config.database.url == f"postgresql+psycopg://scc:{DB_PASSWORD}@db.example/scc"
    assert config.web.secret_key.get_secret_value() == SECRET_KEY
    assert config.alerts.smtp.resolved_password() == SMTP_PASSWORD
    assert str(config.alerts.webhooks[0].url).endswith(SLACK_TOKEN)


def test_configured_secret_key_signs_the_sessions(tmp_path: Path, sqlite_url: str) -> None:
    data = config_data(sqlite_url) | {"state_dir": str(tmp_path)}
    app = create_app(parse_config(data))
    assert app.config["SECRET_KEY"] == SECRET_KEY
    assert not (tmp_path / "web_secret_key").exists()
    assert_clean(repr(app.config["SCC"]))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/tok", "https://hooks.slack.com/…"),
        ("https://api.telegram.org/bot1:tok/sendMessage?chat_id=1", "https://api.telegram.org/…"),
        ("https://x.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d", "https://x.webhook.office.com/…"),
        ("https://user:pw@hooks.example:8443/?token=tok", "https://hooks.example:8443/…"),
        ("https://hooks.example", "https://hooks.example/"),
        ("not a url", "…"),
    ],
)
def test_display_url_keeps_scheme_and_host_only(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_database_url_masks_the_password_only() -> None:
    assert (
        database_url(f"postgresql+psycopg://scc:{DB_PASSWORD}@db/scc")
        == "postgresql+psycopg://scc:***@db/scc"
    )
    assert database_url("sqlite:////var/lib/scc/central.db") == "sqlite:////var/lib/scc/central.db"


def test_channels_page_shows_webhook_hosts_only(sqlite_url: str, tmp_path: Path) -> None:
    from tests.central.web.seed import seed

    database = Database(sqlite_url)
    seed(database, regencies=("16.71",), cameras_per_regency=1)
    with database.session(write=True) as session:
        session.add(
            AlertChannelConfig(
                name="teams",
                kind="webhook",
                enabled=True,
                settings={
                    "url": f"https://x.webhook.office.com/webhookb2/{SLACK_TOKEN}",
                    "secret": HOOK_SECRET,
                },
                updated_at=utc_now(),
                updated_by="admin",
            )
        )
    data = config_data(sqlite_url) | {"state_dir": str(tmp_path)}
    app = create_app(parse_config(data), {"TESTING": True, "DATABASE": database})
    client: FlaskClient = app.test_client()
    log_in(client, "admin")
    page = client.get("/alerts/channels")
    assert page.status_code == 200
    assert_clean(page.text)
    for host in ("https://hooks.slack.com/…", "https://api.telegram.org/…", "https://x.webhook.office.com/…"):
        assert host in page.text
    with database.session() as session:
        channels = list_channels(app.config["SCC"].alerts, session.query(AlertChannelConfig).all())
    assert_clean(repr(channels))
    database.dispose()


def test_a_failed_webhook_send_does_not_log_its_token(caplog: pytest.LogCaptureFixture) -> None:
    url = f"https://hooks.slack.com/services/{SLACK_TOKEN}"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    channel = WebhookChannel.model_validate({"name": "slack", "url": url, "secret": HOOK_SECRET})
    sender = WebhookSender(channel, httpx.Client(transport=httpx.MockTransport(refuse)))
    now = datetime.now(UTC)
    event = AlertEvent(
        seq=1, msg_id="0" * 32, ts=now, alert_id="a1", rule="camera_offline", state="firing",
        severity=AlertSeverity.WARNING, subject="camera x", message="down", started_at=now,
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as failed:
        sender.send(event)
    assert "https://hooks.slack.com/…" in str(failed.value)
    assert_clean(str(failed.value))
    assert_clean(caplog.text)


def test_healthz_and_errors_never_show_the_database_url(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    data = config_data(f"postgresql+psycopg://scc:{DB_PASSWORD}@127.0.0.1:1/scc") | {
        "state_dir": str(tmp_path)
    }
    with caplog.at_level(logging.DEBUG):
        app = create_app(parse_config(data), {"TESTING": True})
        response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unavailable"}
    assert_clean(response.text)
    assert_clean(caplog.text)
    assert "database unavailable" in caplog.text


def test_healthz_scrubs_a_password_the_driver_echoes(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = config_data(f"postgresql+psycopg://scc:{DB_PASSWORD}@127.0.0.1:1/scc") | {
        "state_dir": str(tmp_path)
    }
    app = create_app(parse_config(data), {"TESTING": True})

    class Echoing:
        def execute(self, *_: object) -> None:
            raise RuntimeError(f"bad conninfo: password={DB_PASSWORD} host=127.0.0.1")

    monkeypatch.setattr("central.web.ops.db_session", Echoing)
    with caplog.at_level(logging.WARNING):
        response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["database"] == "unavailable"
    assert "bad conninfo: password=*** host=127.0.0.1" in caplog.text
    assert_clean(caplog.text)
