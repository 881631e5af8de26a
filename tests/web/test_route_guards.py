"""Every route in app.url_map is classified: open on purpose, or guarded by a role; every POST form checks CSRF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.routing import Rule

from central.storage.db import Database
from central.web import create_app
from central.web.accounts import Role
from tests.web.conftest import csrf_from, log_in, make_config
from tests.web.seed import Seeded

TEMPLATES = Path(__file__).resolve().parents[2] / "central" / "web" / "templates"

# Open without a login, each for a reason; adding a route here is a security decision.
OPEN = {
    "static": "CSS, JS and icons",
    "auth.login": "the way in",
    "auth.logout": "only ends the caller's own session (still CSRF-checked)",
    "ops.healthz": "load balancers and systemd; says ok or 'unavailable', nothing else",
    "ops.metrics": "Prometheus; counts per regency only",
    "api.openapi": "the API's description, no data",
}
# Open only when web.public_status is on: regency rollups, and regency-level live events.
PUBLIC_STATUS = {"public.status", "live.events"}
VIEWER = Role.VIEWER
OPERATOR = Role.OPERATOR
ADMIN = Role.ADMIN
GUARDED: dict[str, Role] = {
    "pages.overview": VIEWER,
    "pages.regency": VIEWER,
    "pages.camera": VIEWER,
    "pages.camera_thumbnail": VIEWER,
    "pages.websites": VIEWER,
    "pages.rollout": VIEWER,
    "wall.wall": VIEWER,
    "live.events": VIEWER,
    "public.status": VIEWER,  # 404 unless public_status is on, and then open
    "reports.index": VIEWER,
    "reports.csv_download": VIEWER,
    "reports.pdf_download": VIEWER,
    "alerts.index": VIEWER,
    "alerts.detail": VIEWER,
    "api.regencies": VIEWER,
    "api.regency": VIEWER,
    "api.cameras": VIEWER,
    "api.camera": VIEWER,
    "api.camera_history": VIEWER,
    "api.camera_thumbnail": VIEWER,
    "api.websites": VIEWER,
    "api.rollout": VIEWER,
    "api.events": VIEWER,
    "api_alerts.alerts": VIEWER,
    "api_alerts.alert": VIEWER,
    "editing.camera_metadata": OPERATOR,
    "editing.camera_retire": OPERATOR,
    "editing.camera_check_now": OPERATOR,
    "alerts.acknowledge": OPERATOR,
    "alerts.mute": OPERATOR,
    "alerts.add_silence": OPERATOR,
    "alerts.end_silence": OPERATOR,
    "editing.rollout_edit": ADMIN,
    "alerts.channels": ADMIN,
    "alerts.add_channel": ADMIN,
    "alerts.delete_channel": ADMIN,
    "alerts.test_channel": ADMIN,
    "quarantine.index": ADMIN,
    "api_quarantine.quarantine": ADMIN,
}
ONE_BELOW = {OPERATOR: "viewer", ADMIN: "operator"}


def sample_values(seeded: Seeded) -> dict[str, object]:
    return {
        "code": "16.71",
        "pk": seeded.first_camera_pk,
        "alert_id": "no-such-alert",
        "silence_id": 1,
        "channel_id": 1,
        "name": "mqtt",
        "period_slug": "2026-01",
    }


def guarded_requests(app: Flask, seeded: Seeded) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every guarded route and method."""
    values = sample_values(seeded)
    found = []
    rule: Rule
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN:
            continue
        path = rule.build({arg: values[arg] for arg in rule.arguments}, append_unknown=False)
        assert path is not None
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path[1]))
    return found


@pytest.fixture(params=[False, True], ids=["private", "public_status"])
def any_app(request: pytest.FixtureRequest, web_database: Database, seeded: Seeded, tmp_path: Path) -> Flask:
    config = make_config(tmp_path, str(web_database.url), public_status=request.param)
    return create_app(config, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "guards"})


def test_every_route_is_classified(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    unclassified = endpoints - set(OPEN) - set(GUARDED)
    assert not unclassified, f"decide who may use {sorted(unclassified)} and add them to OPEN or GUARDED"
    assert not (set(OPEN) & set(GUARDED))


def test_anonymous_requests_are_refused_everywhere_but_the_open_routes(
    any_app: Flask, seeded: Seeded
) -> None:
    public = any_app.config["PUBLIC_STATUS"]
    client = any_app.test_client()
    token = csrf_from(client.get("/login").text)
    for endpoint, method, path in guarded_requests(any_app, seeded):
        if public and endpoint in PUBLIC_STATUS:
            continue  # what they show anonymously: tests/web/test_public_live.py, test_pages.py
        response = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
        if endpoint == "public.status":
            assert response.status_code == 404, path  # off: as if it did not exist
        elif response.status_code == 302:
            assert response.location.startswith("/login?next="), (endpoint, method, response.location)
        else:
            assert response.status_code == 401, (endpoint, method, response.status_code)
        response.close()


@pytest.mark.parametrize("needed", [OPERATOR, ADMIN])
def test_a_role_below_the_needed_one_is_forbidden(app: Flask, seeded: Seeded, needed: Role) -> None:
    client = app.test_client()
    log_in(client, ONE_BELOW[needed])
    token = csrf_from(client.get("/").text)
    checked = 0
    for endpoint, method, path in guarded_requests(app, seeded):
        if GUARDED[endpoint] is not needed:
            continue
        response = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 403, (endpoint, method, response.status_code)
        checked += 1
    assert checked


def test_every_state_change_needs_more_than_a_viewer(app: Flask) -> None:
    # Viewers read; every POST outside logging in and out is an operator's or an admin's.
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or set()) and rule.endpoint not in OPEN:
            assert GUARDED[rule.endpoint] is not VIEWER, rule.endpoint


def test_every_post_route_checks_csrf(app: Flask, seeded: Seeded) -> None:
    client = app.test_client()
    log_in(client, "admin")
    posts = [(e, p) for e, m, p in guarded_requests(app, seeded) if m == "POST"]
    posts += [("auth.login", "/login"), ("auth.logout", "/logout")]
    assert len(posts) > 10
    for endpoint, path in posts:
        response = client.post(path, data={})
        assert response.status_code == 400, (endpoint, response.status_code)
        assert b"CSRF" in response.data, endpoint


def test_every_post_form_in_the_templates_carries_the_csrf_token() -> None:
    forms = 0
    for template in TEMPLATES.rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(encoding="utf-8"), re.S | re.I):
            if re.search(r"method=[\"']?post", form, re.I):
                forms += 1
                assert 'name="csrf_token" value="{{ csrf_token() }}"' in form, (
                    f"{template.name}: {form[:120]}"
                )
    assert forms >= 10
