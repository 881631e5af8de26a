"""The alerts and reports pages and /api/v1/alerts: roles, CSRF-protected actions, downloads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from central.alerts.service import AlertService
from central.alerts.tables import AlertChannelConfig, AlertDelivery, AlertRecord
from central.api.openapi import build_openapi
from central.storage.db import Database
from central.storage.models import SilenceRecord
from central.web import create_app
from tests.central.alerts.seed import add_agent, add_camera, set_status
from tests.central.api.test_v1 import validate
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import seed


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    db = Database(sqlite_url)
    seed(db, regencies=("16.71",), cameras_per_regency=2)
    yield db
    db.dispose()


@pytest.fixture
def app(database: Database, tmp_path: Path) -> Flask:
    return create_app(
        make_config(tmp_path, str(database.url)), {"TESTING": True, "DATABASE": database, "SECRET_KEY": "t"}
    )


@pytest.fixture
def firing(database: Database, app: Flask) -> str:
    """One firing camera alert, made by the real evaluator."""
    start = datetime.now(UTC) - timedelta(hours=1)
    with database.session(write=True) as session:
        add_agent(session, "agent-test", "16.71", start)
        session.flush()
        add_camera(session, "agent-test", "cam-x", "16.71", start)
        set_status(session, "agent-test", "cam-x", "offline", start + timedelta(minutes=1))
    AlertService(app.config["SCC"], database).evaluate_once()
    with database.session() as session:
        alert = session.scalars(select(AlertRecord).where(AlertRecord.subject_id == "agent-test/cam-x")).one()
        return alert.alert_id


def test_viewer_sees_alerts_but_cannot_act(app: Flask, firing: str) -> None:
    client = app.test_client()
    log_in(client, "viewer")
    page = client.get("/alerts/")
    assert page.status_code == 200 and "agent-test/cam-x" in page.text
    assert "Acknowledge" not in page.text
    assert client.post(f"/alerts/{firing}/ack", data={"csrf_token": csrf_from(page.text)}).status_code == 403
    assert client.get("/alerts/channels").status_code == 403
    assert client.get(f"/alerts/{firing}").status_code == 200


def test_operator_acknowledges_and_mutes(app: Flask, database: Database, firing: str) -> None:
    client = app.test_client()
    log_in(client, "operator")
    token = csrf_from(client.get("/alerts/").text)
    assert client.post(f"/alerts/{firing}/ack").status_code == 400  # no CSRF token
    assert client.post(f"/alerts/{firing}/ack", data={"csrf_token": token}).status_code == 302
    assert (
        client.post(f"/alerts/{firing}/mute", data={"csrf_token": token, "duration": "1h"}).status_code == 302
    )
    with database.session() as session:
        alert = session.scalars(select(AlertRecord).where(AlertRecord.alert_id == firing)).one()
        assert alert.acknowledged_by == "operator"
        silence = session.scalars(select(SilenceRecord)).one()
        assert (silence.kind, silence.target, silence.rule) == ("mute", "agent-test/cam-x", "camera_offline")


def test_admin_adds_channel_and_queues_a_test(app: Flask, database: Database) -> None:
    client = app.test_client()
    log_in(client, "admin")
    token = csrf_from(client.get("/alerts/channels").text)
    response = client.post(
        "/alerts/channels",
        data={"csrf_token": token, "name": "ops-hook", "kind": "webhook", "url": "https://hooks.example/scc",
              "secret": "topsecret", "min_severity": "warning", "send_resolved": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get("/alerts/channels")
    assert "ops-hook" in page.text and "topsecret" not in page.text
    assert client.post("/alerts/channels/ops-hook/test", data={"csrf_token": token}).status_code == 302
    with database.session() as session:
        assert session.scalars(select(AlertChannelConfig.name)).all() == ["ops-hook"]
        delivery = session.scalars(select(AlertDelivery)).one()
        assert (delivery.channel, delivery.event, delivery.status) == ("ops-hook", "test", "pending")


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:1883/", "http://[::1]/", "http://localhost/x"]
)
def test_admin_cannot_point_a_webhook_inside(app: Flask, database: Database, url: str) -> None:
    client = app.test_client()
    log_in(client, "admin")
    token = csrf_from(client.get("/alerts/channels").text)
    response = client.post(
        "/alerts/channels",
        data={"csrf_token": token, "name": "probe", "kind": "webhook", "url": url, "min_severity": "warning"},
        follow_redirects=True,
    )
    assert "internal address" in response.text and "webhook_allowed_networks" in response.text
    with database.session() as session:
        assert session.scalars(select(AlertChannelConfig.name)).all() == []


def test_api_lists_alerts(app: Flask, firing: str) -> None:
    client: FlaskClient = app.test_client()
    assert client.get("/api/v1/alerts").status_code == 401
    log_in(client, "viewer")
    body = client.get("/api/v1/alerts?status=firing").get_json()
    mine = {item["alert_id"]: item for item in body["items"]}[firing]  # the seed has failures of its own
    assert body["total"] == len(body["items"]) >= 1
    assert (mine["rule"], mine["state"], mine["regency"]) == ("camera_offline", "firing", "16.71")
    one = client.get(f"/api/v1/alerts/{firing}").get_json()
    assert one["subject_id"] == "agent-test/cam-x"
    spec = build_openapi()
    validate(spec, "/alerts", body)
    validate(spec, "/alerts/{alert_id}", one)
    assert client.get("/api/v1/alerts/nope").status_code == 404
    assert client.get("/api/v1/alerts?status=bogus").status_code == 400


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=-3", "limit"),
        ("offset=abc", "offset"),
        ("offset=-1", "offset"),
        ("regency=99.99", "regency"),
    ],
)
def test_api_alerts_rejects_bad_query_like_v1(app: Flask, firing: str, query: str, names: str) -> None:
    client: FlaskClient = app.test_client()
    log_in(client, "viewer")
    response = client.get(f"/api/v1/alerts?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["status"] == 400 and names in body["detail"]
    # the same problem, word for word, as the rest of /api/v1 gives for the same query
    assert body == client.get(f"/api/v1/cameras?{query}").get_json()


def test_api_alerts_valid_limit_still_pages(app: Flask, firing: str) -> None:
    client: FlaskClient = app.test_client()
    log_in(client, "viewer")
    everything = client.get("/api/v1/alerts?status=all").get_json()
    one = client.get("/api/v1/alerts?status=all&limit=1&offset=0").get_json()
    assert (one["limit"], one["offset"], one["total"]) == (1, 0, everything["total"])
    assert [item["alert_id"] for item in one["items"]] == [everything["items"][0]["alert_id"]]
    assert client.get("/api/v1/alerts?regency=16.71").status_code == 200


def test_api_alerts_caps_a_large_limit_like_v1(app: Flask, firing: str) -> None:
    """Above the maximum is capped, not refused: that is what v1's own paging does for every list."""
    client: FlaskClient = app.test_client()
    log_in(client, "viewer")
    response = client.get("/api/v1/alerts?limit=100000")
    assert response.status_code == 200 and response.get_json()["limit"] == 500
    assert client.get("/api/v1/cameras?limit=100000").get_json()["limit"] == 500


def test_report_page_and_downloads(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "viewer")
    page = client.get("/reports/?period=2025-03")
    assert page.status_code == 200 and "Ketersediaan (%)" in page.text
    csv = client.get("/reports/2025-03.csv?table=camera")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    pdf = client.get("/reports/2025-W10.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert client.get("/reports/2025-3.pdf").status_code == 400


def test_the_province_offices_alerts_are_listed_and_filtered_as_theirs(database: Database, tmp_path: Path) -> None:
    """A [province] agent's camera alerts as the province's own offices on the pages: named, filterable by 16."""
    config = make_config(tmp_path, str(database.url))
    config = config.model_copy(update={"province": config.province.model_copy(update={"agents": ["agent-pemprov"]})})
    app = create_app(config, {"TESTING": True, "DATABASE": database, "SECRET_KEY": "t"})
    start = datetime.now(UTC) - timedelta(hours=1)
    with database.session(write=True) as session:
        add_agent(session, "agent-pemprov", "16.71", start)  # its certificate says Palembang
        session.flush()
        add_camera(session, "agent-pemprov", "cam-gub", "16.71", start)
        set_status(session, "agent-pemprov", "cam-gub", "offline", start + timedelta(minutes=1))
    AlertService(config, database).evaluate_once()
    client = app.test_client()
    log_in(client, "viewer")
    listed = client.get("/alerts/?regency=16&lang=id").text
    assert "agent-pemprov/cam-gub" in listed and "Pemprov Sumatera Selatan" in listed
    assert '<option value="16" selected>Pemprov Sumatera Selatan</option>' in listed
    assert "agent-pemprov/cam-gub" not in client.get("/alerts/?regency=16.71").text
    [alert] = client.get("/api/v1/alerts?regency=16").get_json()["items"]
    assert (alert["subject_id"], alert["regency"]) == ("agent-pemprov/cam-gub", "16")
    detail = client.get(f"/alerts/{alert['alert_id']}?lang=id").text
    assert "Pemprov Sumatera Selatan" in detail
