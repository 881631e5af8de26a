"""Every form and bearer-token read while an ingest-like writer hammers the same database: no 500s."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from central.alerts.service import AlertService
from central.alerts.tables import AlertChannelConfig, AlertDelivery, AlertRecord
from central.storage.db import Database, lock_event_ids
from central.storage.models import Agent, Camera, Event, Rollout, SilenceRecord
from central.web import create_app
from central.web.accounts import ApiToken, add_token
from central.web.database import db_session, get_database, released
from tests.central.alerts.seed import add_agent, add_camera, set_status
from tests.central.web.conftest import csrf_from, log_in, make_config
from tests.central.web.seed import seed

pytestmark = pytest.mark.xdist_group("busy-database")

ROUNDS = 12


class Ingest:
    """Short write transactions back to back from its own engine, like the ingest process commits."""

    def __init__(self, url: str) -> None:
        self.database = Database(url)
        self.stop = threading.Event()
        self.commits = 0
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="fake-ingest", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with self.database.session(write=True) as session:
                    lock_event_ids(session.connection())
                    now = datetime.now(UTC)
                    session.execute(update(Agent).values(last_seen_at=now))
                    session.execute(
                        insert(Event),
                        [{"ts": now, "kind": "camera_status", "subject": "busy", "new_state": "ok"}] * 5,
                    )
                self.commits += 1
            except Exception as error:  # recorded, and the test fails on any
                self.errors.append(error)
            time.sleep(0.0005)  # let other writers in, as the ingest's batching does

    def __enter__(self) -> Ingest:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.database.dispose()


@pytest.fixture
def busy_database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    seed(database, regencies=("16.71",), cameras_per_regency=3)
    start = datetime.now(UTC) - timedelta(hours=1)
    with database.session(write=True) as session:
        add_agent(session, "agent-busy", "16.71", start)
        session.flush()
        add_camera(session, "agent-busy", "cam-busy", "16.71", start)
        set_status(session, "agent-busy", "cam-busy", "offline", start + timedelta(minutes=1))
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def busy_app(busy_database: Database, tmp_path: Path) -> Flask:
    # Not TESTING: an exception must come back as the 500 a user would see, not raise into the test.
    config = make_config(tmp_path, str(busy_database.url))
    config.broker.port = 9  # "check now" fails fast (nothing listens) and must say so, not 500
    app = create_app(config, {"DATABASE": busy_database, "SECRET_KEY": "busy"})
    AlertService(config, busy_database).evaluate_once()
    return app


def _alert_id(database: Database) -> str:
    with database.session() as session:
        return session.scalars(
            select(AlertRecord.alert_id).where(AlertRecord.subject_id == "agent-busy/cam-busy")
        ).one()


def _token(database: Database) -> str:
    with database.session(write=True) as session:
        return add_token(session, "busy-reader")


def _every_form(
    client: FlaskClient, database: Database, alert_id: str, camera_pk: int, round_no: int
) -> list[TestResponse]:
    """POST every form the web has once; returns the responses."""
    responses: list[TestResponse] = []
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/login").text)})
    csrf = csrf_from(client.get("/login").text)
    responses.append(client.post("/login", data={"username": "admin", "password": "correct horse battery",
                                                  "csrf_token": csrf}))  # fmt: skip
    csrf = csrf_from(client.get("/alerts/").text)

    def post(path: str, **data: str) -> None:
        responses.append(client.post(path, data={"csrf_token": csrf, **data}))

    post(f"/cameras/{camera_pk}/metadata", display_name=f"Kamera {round_no}", owner_opd="Dishub", tags="a, b")
    post(f"/cameras/{camera_pk}/check")
    post("/rollout/16.71", target_cameras=str(10 + round_no), target_websites="3", stage="box_installed")
    post(f"/alerts/{alert_id}/ack")
    post(f"/alerts/{alert_id}/mute", duration="1h")
    post("/alerts/silences", kind="maintenance", target_kind="regency", target="16.71", reason="busy")
    with database.session() as session:
        newest = session.scalar(select(SilenceRecord.id).order_by(SilenceRecord.id.desc()).limit(1))
    post(f"/alerts/silences/{newest}/end")
    name = f"hook-{round_no}"
    post("/alerts/channels", name=name, kind="webhook", url="https://hooks.example/hook", min_severity="warning")
    post(f"/alerts/channels/{name}/test")
    with database.session() as session:
        channel = session.scalars(select(AlertChannelConfig.id).where(AlertChannelConfig.name == name)).one()
    if round_no % 2:
        post(f"/alerts/channels/{channel}/delete")
    return responses


def test_forms_and_token_reads_survive_a_busy_writer(busy_app: Flask, busy_database: Database) -> None:
    alert_id, token = _alert_id(busy_database), _token(busy_database)
    with busy_database.session() as session:
        camera_pk = session.scalars(select(Camera.id).order_by(Camera.id)).first()
    client = busy_app.test_client()
    log_in(client, "admin")
    api = busy_app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    with Ingest(str(busy_database.url)) as ingest:
        for round_no in range(ROUNDS):
            for response in _every_form(client, busy_database, alert_id, camera_pk, round_no):
                if response.status_code >= 400:
                    failures.append(f"POST {response.request.path}: {response.status_code}")
            for path in ("/api/v1/cameras", "/api/v1/regencies", "/api/v1/websites", "/api/v1/alerts"):
                response = api.get(path, headers=bearer)
                if response.status_code != 200:
                    failures.append(f"GET {path}: {response.status_code}")
            # The token's last use is recorded at most once a minute: make every round write it again.
            with busy_database.session(write=True) as session:
                session.execute(update(ApiToken).values(last_used_at=None))
    assert not ingest.errors, ingest.errors[:3]
    assert ingest.commits > ROUNDS, "the writer never ran alongside the requests"
    assert not failures, failures
    with busy_database.session() as session:
        assert session.get(Camera, camera_pk).display_name == f"Kamera {ROUNDS - 1}"
        assert session.get(Rollout, "16.71").target_cameras == 10 + ROUNDS - 1
        assert (
            session.scalars(select(AlertRecord).where(AlertRecord.alert_id == alert_id)).one().acknowledged_by
        )
        tests = session.scalars(select(AlertDelivery).where(AlertDelivery.event == "test")).all()
        assert len(tests) == ROUNDS


def test_a_handler_opening_its_own_write_session_does_not_deadlock(busy_app: Flask) -> None:
    """A service called from a POST opens its own write session: the request's lock is let go first."""
    with busy_app.test_request_context("/anything", method="POST"):
        session = db_session()
        session.scalar(select(Agent.name).limit(1))  # the request now holds the write lock (SQLite)
        started = time.monotonic()
        with get_database().session(write=True) as own:
            own.execute(update(Agent).values(command_seq=Agent.command_seq + 1))
        assert time.monotonic() - started < 5
        session.execute(update(Agent).values(command_seq=Agent.command_seq + 1))  # and it may write on
        session.commit()


def test_released_runs_without_the_request_transaction(busy_app: Flask) -> None:
    with busy_app.test_request_context("/anything", method="POST"):
        session: Session = db_session()
        session.scalar(select(Agent.name).limit(1))
        with released():
            assert not session.in_transaction()
