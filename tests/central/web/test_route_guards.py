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
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import Seeded

TEMPLATES = Path(__file__).resolve().parents[3] / "central" / "web" / "templates"

# Open without a login, each for a reason; adding a route here is a security decision.
OPEN = {
    "static": "CSS, JS and icons",
    "auth.login": "the way in",
    "auth.logout": "only ends the caller's own session (still CSRF-checked)",
    "ops.healthz": "load balancers and systemd; says ok, 'unavailable' or 'disk full', nothing else",
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
    "live_view.live_mjpeg": OPERATOR,  # [live_view] min_role, operator by default
    "live_view.still_jpeg": OPERATOR,  # the same permission as live view
    "live_audit.live_sessions": ADMIN,
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
            continue  # what they show anonymously: tests/central/web/test_public_live.py, test_pages.py
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


# Regency scope: what each guarded route does for an account limited to other regencies than the
# object's. "refused": 403/404; "filtered": answers, without anything of the other regency;
# "own": redirects the scoped account to its own regency. Adding a route here is a security decision too.
REFUSED, FILTERED, OWN = "refused", "filtered", "own"
REGENCY_SCOPE: dict[str, str] = {
    "pages.overview": OWN,
    "pages.regency": REFUSED,
    "pages.camera": REFUSED,
    "pages.camera_thumbnail": REFUSED,
    "pages.websites": FILTERED,
    "pages.rollout": REFUSED,  # the province's plan: province accounts
    "quarantine.index": REFUSED,  # every agent's refusals: province accounts
    "api_quarantine.quarantine": REFUSED,
    "wall.wall": FILTERED,
    "live.events": FILTERED,  # tests/central/web/test_regency_scope.py streams it
    "public.status": FILTERED,  # regency rollups for anyone when on, 404 when off
    "reports.index": FILTERED,
    "reports.csv_download": FILTERED,
    "reports.pdf_download": FILTERED,
    "alerts.index": FILTERED,
    "alerts.detail": REFUSED,
    "api.regencies": FILTERED,
    "api.regency": REFUSED,
    "api.cameras": FILTERED,
    "api.camera": REFUSED,
    "api.camera_history": REFUSED,
    "api.camera_thumbnail": REFUSED,
    "api.websites": FILTERED,
    "api.rollout": FILTERED,
    "api.events": FILTERED,
    "api_alerts.alerts": FILTERED,
    "api_alerts.alert": REFUSED,
    "editing.camera_metadata": REFUSED,
    "editing.camera_retire": REFUSED,
    "editing.camera_check_now": REFUSED,
    "live_view.live_mjpeg": REFUSED,
    "live_view.still_jpeg": REFUSED,
    "live_audit.live_sessions": FILTERED,
    "alerts.acknowledge": REFUSED,
    "alerts.mute": REFUSED,
    "alerts.add_silence": REFUSED,
    "alerts.end_silence": REFUSED,
    "editing.rollout_edit": REFUSED,
    "alerts.channels": REFUSED,  # channels carry every regency's alerts: province admins
    "alerts.add_channel": REFUSED,
    "alerts.delete_channel": REFUSED,
    "alerts.test_channel": REFUSED,
}
SECRET = "SECRET-OF-PALEMBANG"  # on 16.71's camera, website and alert; never shown to 16.06's account


def test_every_guarded_route_has_a_regency_scope_decision() -> None:
    assert set(REGENCY_SCOPE) == set(GUARDED)


def _other_regency(web_database: Database, seeded: Seeded) -> dict[str, object]:
    """Objects of 16.71 marked with SECRET, and the sample values that point at them."""
    import datetime as dt

    from sqlalchemy import update

    from central.alerts.tables import AlertChannelConfig, AlertRecord
    from central.storage.models import Camera, SilenceRecord, Website

    now = dt.datetime.now(dt.UTC)
    with web_database.session(write=True) as session:
        session.execute(update(Camera).where(Camera.regency_code == "16.71").values(display_name=SECRET))
        session.execute(update(Website).where(Website.regency_code == "16.71").values(display_name=SECRET))
        session.add(AlertRecord(alert_id="a-1671", key="camera_offline:x", rule="camera_offline",
                                subject_kind="camera", subject_id="agent-1671/cam-1", subject_label=SECRET,
                                regency_code="16.71", agent_name="agent-1671", severity="warning",
                                message=SECRET, started_at=now, fired_at=now))  # fmt: skip
        silence = SilenceRecord(kind="maintenance", target_kind="regency", target="16.71", starts_at=now,
                               reason=SECRET)  # fmt: skip
        channel = AlertChannelConfig(name="hook", kind="webhook", enabled=True, updated_at=now,
                                     settings={"url": "https://hooks.example/x", "min_severity": "info"})  # fmt: skip
        session.add_all([silence, channel])
        session.flush()
        camera = session.query(Camera).filter_by(regency_code="16.71").first()
        assert camera is not None
        return sample_values(seeded) | {
            "code": "16.71",
            "pk": camera.id,
            "alert_id": "a-1671",
            "silence_id": silence.id,
            "channel_id": channel.id,
            "name": "hook",
        }


def test_a_regency_account_sees_and_touches_only_its_regencies(
    app: Flask, web_database: Database, seeded: Seeded
) -> None:
    from central.web.accounts import add_user
    from tests.central.web.seed import PASSWORD

    values = _other_regency(web_database, seeded)
    with web_database.session(write=True) as session:
        add_user(session, "kominfo-muba", PASSWORD, Role.ADMIN, ["16.06"])
    client = app.test_client()
    log_in(client, "kominfo-muba")
    token = csrf_from(client.get("/regencies/16.06").text)
    checked = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN:
            continue
        path = rule.build({arg: values[arg] for arg in rule.arguments}, append_unknown=False)
        assert path is not None
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            decision = REGENCY_SCOPE[rule.endpoint]
            form = {"csrf_token": token, "target_kind": "regency", "target": "16.71", "kind": "maintenance"}
            response = client.open(path[1], method=method, data=form if method == "POST" else None)
            body = response.get_data(as_text=True) if not response.is_streamed else ""
            label = (rule.endpoint, method, response.status_code)
            if decision == REFUSED:
                assert response.status_code in (403, 404), label
            elif decision == OWN:
                assert response.status_code == 302 and response.location.endswith("/regencies/16.06"), label
            else:
                assert response.status_code in (200, 404), label  # 404: public.status while it is off
            assert SECRET not in body, label
            assert '"regency":"16.71"' not in body.replace(" ", ""), label
            response.close()
            checked.add(rule.endpoint)
    assert checked == set(GUARDED)
    # And its own regency is all there.
    assert client.get("/regencies/16.06").status_code == 200
    cameras = client.get("/api/v1/cameras?limit=500").get_json()
    assert cameras["total"] > 0 and {c["regency"] for c in cameras["items"]} == {"16.06"}
    assert client.get("/api/v1/cameras?regency=16.71").status_code == 404
    assert "16.71" not in {r["code"] for r in client.get("/api/v1/regencies").get_json()["items"]}
