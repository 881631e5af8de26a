"""Web fixtures: a seeded database (SQLite by default, PostgreSQL where a test asks), the app, clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central.config import CentralConfig, WebConfig
from central.storage.db import Database
from central.web import create_app
from tests.central.web.seed import PASSWORD, Seeded, add_hostile_camera, seed


def make_config(tmp_path: Path, url: str, **web: object) -> CentralConfig:
    return CentralConfig(
        state_dir=tmp_path / "state",
        database={"url": url},
        web=WebConfig.model_validate(
            {"session_cookie_secure": False, "rollup_cache_s": 0, "sse_poll_s": 0.1, "sse_max_s": 2.0} | web
        ),
    )


@pytest.fixture
def web_database(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def seeded(web_database: Database) -> Seeded:
    result = seed(web_database)
    hostile = add_hostile_camera(web_database)
    return Seeded(token=result.token, hostile_camera_pk=hostile, first_camera_pk=result.first_camera_pk)


@pytest.fixture
def app(web_database: Database, seeded: Seeded, tmp_path: Path) -> Flask:
    config = make_config(tmp_path, str(web_database.url))
    return create_app(config, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "test-secret"})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def log_in(client: FlaskClient, user: str = "admin", password: str = PASSWORD) -> None:
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": user, "password": password, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 302, response.text


@pytest.fixture
def admin(client: FlaskClient) -> FlaskClient:
    log_in(client, "admin")
    return client


@pytest.fixture
def viewer(client: FlaskClient) -> FlaskClient:
    log_in(client, "viewer")
    return client
