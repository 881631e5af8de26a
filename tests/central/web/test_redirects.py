"""Redirect targets from the request (login's and the alert actions' ``next``) never leave the site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from central.alerts.service import AlertService
from central.alerts.tables import AlertRecord
from central.storage.db import Database
from central.web import create_app
from central.web.redirects import safe_next
from tests.central.alerts.seed import add_agent, add_camera, set_status
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import PASSWORD

FOREIGN = [
    "/\\evil.example",
    "/\\evil.example/x",
    "\\\\evil.example",
    "//evil.example/x",
    "///evil.example",
    "https://evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nLocation: https://evil.example",
    "/\x00x",
    "/\x7f",
    "evil.example",
    "",
    None,
]


@pytest.mark.parametrize("target", FOREIGN)
def test_foreign_targets_fall_back_to_the_default(target: str | None) -> None:
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", ["/", "/alerts/?status=firing", "/regencies/16.71#map", "/a/b%2F%2Fc"])
def test_paths_on_this_site_pass(target: str) -> None:
    assert safe_next(target, "/home") == target


@pytest.mark.parametrize("target", ["/\\evil.example", "//evil.example", "https://evil.example", "/\t/evil"])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    page = client.get("/login", query_string={"next": target})
    assert '<input type="hidden" name="next" value="">' in page.text  # not even echoed into the form
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_from(page.text), "next": target},
    )
    assert response.status_code == 302 and response.location == "/"


def test_login_returns_to_the_page_asked_for(client: FlaskClient) -> None:
    bounce = client.get("/websites?q=dinas")
    assert bounce.status_code == 302
    page = client.get(bounce.location)
    response = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "next": "/websites?q=dinas",
        },
    )
    assert response.location == "/websites?q=dinas"


def test_alert_actions_never_redirect_off_site(sqlite_url: str, tmp_path: Path) -> None:
    from tests.central.web.seed import seed

    database = Database(sqlite_url)
    seed(database, regencies=("16.71",), cameras_per_regency=2)
    app = create_app(
        make_config(tmp_path, str(database.url)), {"TESTING": True, "DATABASE": database, "SECRET_KEY": "t"}
    )
    start = datetime.now(UTC) - timedelta(hours=1)
    with database.session(write=True) as session:
        add_agent(session, "agent-test", "16.71", start)
        session.flush()
        add_camera(session, "agent-test", "cam-x", "16.71", start)
        set_status(session, "agent-test", "cam-x", "offline", start + timedelta(minutes=1))
    AlertService(app.config["SCC"], database).evaluate_once()
    with database.session() as session:
        alert_id = session.scalars(select(AlertRecord.alert_id)).first()
    assert alert_id
    client = app.test_client()
    log_in(client, "operator")
    token = csrf_from(client.get("/alerts/").text)
    for action, extra in (("ack", {}), ("mute", {"duration": "1h"})):
        for target in ("/\\evil.example/x", "https://evil.example/"):
            response = client.post(
                f"/alerts/{alert_id}/{action}", data={"csrf_token": token, "next": target, **extra}
            )
            assert response.status_code == 302 and response.location == "/alerts/", (action, target)
    kept = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token, "next": "/alerts/?status=all"})
    assert kept.location == "/alerts/?status=all"
    database.dispose()
