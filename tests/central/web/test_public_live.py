"""With web.public_status on, an anonymous live stream carries regency-level events only, never device ids or states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from central.storage.db import Database
from central.web import create_app
from tests.central.web.conftest import log_in, make_config
from tests.central.web.seed import Seeded
from tests.central.web.test_live import break_camera, events

REGENCY_EVENT_KEYS = {"id", "kind", "regency"}


@pytest.fixture
def public_app(web_database: Database, seeded: Seeded, tmp_path: Path) -> Flask:
    config = make_config(tmp_path, str(web_database.url), public_status=True)
    return create_app(config, {"TESTING": True, "DATABASE": web_database, "SECRET_KEY": "public-test"})


def changes(client: FlaskClient, **headers: str) -> list[dict[str, object]]:
    response = client.get("/live/events", headers=headers, buffered=False)
    assert response.status_code == 200
    found = [json.loads(data) for name, data in events(response.response) if name == "change"]
    response.close()
    return found


def test_anonymous_replay_names_regencies_only(public_app: Flask) -> None:
    seen = changes(public_app.test_client(), **{"Last-Event-ID": "0"})
    assert seen, "the seeded feed should replay"
    for change in seen:
        assert set(change) == REGENCY_EVENT_KEYS and change["kind"] == "regency", change
        assert isinstance(change["regency"], str)


def test_a_logged_in_user_on_the_same_app_still_gets_the_details(public_app: Flask) -> None:
    client = public_app.test_client()
    log_in(client, "viewer")
    seen = changes(client, **{"Last-Event-ID": "0"})
    assert any(change.get("camera") is not None and change.get("state") for change in seen)


def test_a_broken_camera_reaches_an_anonymous_stream_as_its_regency(
    public_app: Flask, web_database: Database
) -> None:
    response = public_app.test_client().get("/live/events", buffered=False)
    stream = events(response.response)
    assert next(stream)[0] == "hello"
    break_camera(web_database)
    name, data = next(stream)
    assert name == "change" and json.loads(data) == {
        "id": json.loads(data)["id"],
        "kind": "regency",
        "regency": "16.71",
    }
    assert "cam-" not in data and "offline" not in data
    response.close()


def test_anonymous_streams_stay_closed_without_public_status(client: FlaskClient) -> None:
    assert client.get("/live/events").status_code == 401
