"""Login, roles, CSRF, rate limiting, session hardening and security headers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from central.storage.db import Database
from central.web import create_app
from central.web.accounts import Role, WebSession, set_active, set_password, set_regencies, set_role
from central.web.security import CONTENT_SECURITY_POLICY
from shared.messages import utc_now
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import PASSWORD, Seeded


def test_pages_need_login(client: FlaskClient) -> None:
    for path in ("/", "/regencies/16.71", "/websites", "/rollout", "/wall"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.location.startswith("/login?next=")


def test_login_and_logout(client: FlaskClient) -> None:
    log_in(client, "viewer")
    assert client.get("/").status_code == 200
    token = csrf_from(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_and_rate_limited(client: FlaskClient) -> None:
    token = csrf_from(client.get("/login").text)
    statuses = [
        client.post("/login", data={"username": "admin", "password": "nope", "csrf_token": token}).status_code
        for _ in range(4)
    ]
    assert statuses[:3] == [401] * 3  # then growing delays: tests/central/web/test_login_throttle.py
    blocked = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert statuses[3] == 429 and blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


def test_unknown_user_reads_like_a_wrong_password(client: FlaskClient) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": "ghost", "password": "x" * 12, "csrf_token": token})
    assert response.status_code == 401


def test_forms_without_csrf_token_are_refused(client: FlaskClient) -> None:
    assert client.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 400
    log_in(client, "admin")
    response = client.post("/rollout/16.71", data={"target_cameras": "5"})
    assert response.status_code == 400


def test_next_parameter_cannot_leave_the_site(client: FlaskClient) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"},
    )
    assert response.location == "/"


def test_viewer_cannot_edit_and_operator_cannot_plan(client: FlaskClient, seeded: Seeded) -> None:
    log_in(client, "viewer")
    token = csrf_from(client.get("/").text)
    pk = seeded.first_camera_pk
    assert client.post(f"/cameras/{pk}/metadata", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/cameras/{pk}/check", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    log_in(client, "operator")
    token = csrf_from(client.get("/").text)
    assert client.post("/rollout/16.71", data={"csrf_token": token}).status_code == 403
    saved = client.post(
        f"/cameras/{pk}/metadata",
        data={"csrf_token": token, "display_name": "Simpang Charitas", "owner_opd": "Dishub", "tags": "a, b"},
    )
    assert saved.status_code == 302
    assert "Simpang Charitas" in client.get(f"/cameras/{pk}").text


def test_password_change_ends_existing_sessions(client: FlaskClient, web_database: Database) -> None:
    log_in(client, "viewer")
    with web_database.session(write=True) as session:
        set_password(session, "viewer", "another long password")
    assert client.get("/").status_code == 302


def _copied_cookie(app: Flask, client: FlaskClient) -> FlaskClient:
    """A second client holding a copy of ``client``'s session cookie, as a thief would."""
    cookie = client.get_cookie("scc_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("scc_session", cookie.value)
    return thief


def test_a_cookie_copied_before_logout_is_dead_after_it(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "viewer")
    thief = _copied_cookie(app, client)
    assert thief.get("/").status_code == 200
    assert thief.get("/api/v1/regencies").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    assert thief.get("/").status_code == 302
    assert thief.get("/api/v1/regencies").status_code == 401
    # Logging out on one device leaves the user's other logins alone.
    other, again = app.test_client(), app.test_client()
    log_in(other, "viewer")
    log_in(again, "viewer")
    again.post("/logout", data={"csrf_token": csrf_from(again.get("/").text)})
    assert other.get("/").status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        lambda s: set_password(s, "operator", "another long password"),
        lambda s: set_role(s, "operator", Role.VIEWER),
        lambda s: set_regencies(s, "operator", ["16.71"]),
        lambda s: set_active(s, "operator", False),
    ],
    ids=["password", "role", "regencies", "disabled"],
)
def test_account_changes_end_every_open_session_at_once(
    app: Flask, web_database: Database, change: Callable[[Session], None]
) -> None:
    phone, wall = app.test_client(), app.test_client()
    log_in(phone, "operator")
    log_in(wall, "operator")
    with web_database.session(write=True) as session:
        change(session)
    assert phone.get("/").status_code == 302 and wall.get("/").status_code == 302
    assert wall.get("/api/v1/cameras").status_code == 401


def test_expired_sessions_are_refused(client: FlaskClient, web_database: Database) -> None:
    log_in(client, "viewer")
    with web_database.session(write=True) as session:
        session.execute(update(WebSession).values(expires_at=utc_now() - dt.timedelta(seconds=1)))
    assert client.get("/").status_code == 302


def test_security_headers_and_cookie_flags(tmp_path: Path, web_database: Database, seeded: Seeded) -> None:
    app: Flask = create_app(
        make_config(tmp_path, str(web_database.url), session_cookie_secure=True), {"DATABASE": web_database}
    )
    client = app.test_client()
    response = client.get("/login")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    # No key configured: one was generated into the database (test_secret_key.py), no file left lying about.
    assert not (tmp_path / "state" / "web_secret_key").exists()


def test_no_inline_script_or_style_in_pages(admin: FlaskClient, seeded: Seeded) -> None:
    for path in (
        "/",
        "/regencies/16.71",
        f"/cameras/{seeded.first_camera_pk}",
        "/websites",
        "/rollout",
        "/wall",
    ):
        html = admin.get(path).text
        assert "<script>" not in html.replace(
            '<script>alert("x")', ""
        )  # the hostile name is escaped, see below
        assert " style=" not in html and "<style" not in html
        assert "onclick=" not in html
        assert "https://" not in html.split("<body")[0], "no CDN in the head"
