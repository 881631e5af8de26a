"""A stranger guessing passwords is slowed down more and more, and locks nobody else out.

The attack from the issue: behind the documented nginx on 127.0.0.1, five wrong passwords for `admin`
(with any X-Forwarded-For) used to lock every user out for five minutes, the right password included.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.storage.db import Database
from central.web import create_app
from central.web.ratelimit import LoginFailure, LoginThrottle
from tests.central.web.conftest import csrf_from, make_config
from tests.central.web.seed import PASSWORD

NGINX = "127.0.0.1"  # the proxy, trusted by default


def _attempt(
    client: FlaskClient, user: str, password: str, peer: str, forwarded: str | None = None
) -> tuple[int, int]:
    """(status, Retry-After or 0) of one login POST arriving from ``peer``."""
    environ = {"REMOTE_ADDR": peer}
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    token = csrf_from(client.get("/login", environ_base=environ, headers=headers).text)
    response = client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token},
        environ_base=environ,
        headers=headers,
    )
    return response.status_code, int(response.headers.get("Retry-After", 0))


def test_a_stranger_through_the_proxy_locks_out_nobody_else(app: Flask) -> None:
    stranger, admin = app.test_client(), app.test_client()
    answers = [
        # The stranger writes its own X-Forwarded-For; nginx appends the address it really came from.
        _attempt(stranger, "admin", "guess", NGINX, forwarded=f"10.9.9.{n}, 203.0.113.9")
        for n in range(8)
    ]
    assert [status for status, _ in answers[:3]] == [401, 401, 401]
    assert all(status == 429 for status, _ in answers[3:])
    assert answers[3][1] >= 1
    # The right password from the operator's own address goes straight in.
    assert _attempt(admin, "admin", PASSWORD, NGINX, forwarded="198.51.100.20") == (302, 0)
    # The stranger's own address stays slowed, even with the right password.
    assert _attempt(stranger, "admin", PASSWORD, NGINX, forwarded="203.0.113.9")[0] == 429
    # Another account from the stranger's address is a separate pair.
    assert _attempt(stranger, "viewer", PASSWORD, NGINX, forwarded="203.0.113.9") == (302, 0)


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(app: Flask) -> None:
    direct = app.test_client()
    # Straight to gunicorn, posing as a new address each time: still one pair, so it is slowed.
    statuses = [
        _attempt(direct, "operator", "guess", "198.51.100.7", forwarded=f"10.0.0.{n}")[0] for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert _attempt(app.test_client(), "operator", PASSWORD, NGINX, forwarded="10.0.0.1") == (302, 0)


def test_instances_on_one_database_share_the_count(
    app: Flask, web_database: Database, tmp_path: Path
) -> None:
    """Two apps (two gunicorn workers or instances) on one database: N of them give no N-fold attempts."""
    other_database = Database(str(web_database.url))
    try:
        other = create_app(
            make_config(tmp_path, str(web_database.url)),
            {"TESTING": True, "DATABASE": other_database, "SECRET_KEY": "test-secret"},
        )
        instances = [app.test_client(), other.test_client()]
        statuses = [_attempt(instances[n % 2], "operator", "guess", "198.51.100.7")[0] for n in range(6)]
        assert statuses == [401, 401, 401, 429, 429, 429]
        # The right password from another address, on either instance, goes straight in.
        assert _attempt(instances[1], "operator", PASSWORD, "198.51.100.8") == (302, 0)
        assert _attempt(instances[0], "operator", PASSWORD, "198.51.100.9") == (302, 0)
    finally:
        other_database.dispose()


def _session(database: Database) -> Session:
    return database.new_session(write=True)


def test_delays_grow_and_are_forgotten(database: Database) -> None:
    throttle = LoginThrottle(free_failures=3, base_delay_s=2, max_delay_s=60, forget_after_s=900)
    now = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)
    later = now + dt.timedelta(seconds=60)
    much_later = now + dt.timedelta(seconds=2000)
    with _session(database) as session:
        waits = []
        for _ in range(10):
            throttle.fail(session, "203.0.113.9", "Admin", now)
            session.commit()
            waits.append(throttle.retry_after(session, "203.0.113.9", "admin", now))
        assert waits == [0, 0, 2, 4, 8, 16, 32, 60, 60, 60]
        assert throttle.retry_after(session, "198.51.100.20", "admin", now) == 0
        assert throttle.retry_after(session, "203.0.113.9", "admin", later) == 0  # the delay passed
        throttle.fail(session, "203.0.113.9", "admin", much_later)  # long after: counting starts over
        assert throttle.retry_after(session, "203.0.113.9", "admin", much_later) == 0
        throttle.fail(session, "203.0.113.9", "admin", much_later)
        throttle.fail(session, "203.0.113.9", "admin", much_later)
        assert throttle.retry_after(session, "203.0.113.9", "admin", much_later) == 2
        throttle.succeed(session, "203.0.113.9", "admin")
        session.commit()
        assert throttle.retry_after(session, "203.0.113.9", "admin", much_later) == 0


def test_what_was_typed_is_not_stored(database: Database) -> None:
    """A password typed into the user name field stays out of the table; keys have one length."""
    with _session(database) as session:
        LoginThrottle().fail(session, "203.0.113.9", "hunter2-my-password" * 100)
        session.commit()
        (row,) = session.scalars(select(LoginFailure)).all()
        assert len(row.key_sha256) == 64 and "hunter2" not in row.key_sha256


def test_the_table_stays_bounded_under_a_spray(database: Database) -> None:
    throttle = LoginThrottle(max_keys=50)
    start = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)
    with _session(database) as session:
        for n in range(200):
            throttle.fail(session, f"10.0.0.{n}", f"user{n}", start + dt.timedelta(seconds=n))
        session.commit()
        assert session.scalar(select(func.count()).select_from(LoginFailure)) <= 51
        # The newest pairs are the ones kept.
        assert session.get(LoginFailure, throttle._key("10.0.0.199", "user199")) is not None
        # Pairs not seen for forget_after_s go on the next failure.
        throttle.fail(
            session, "10.9.9.9", "x", start + dt.timedelta(seconds=200 + throttle.forget_after_s + 1)
        )
        session.commit()
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1


def test_failures_counted_at_once_by_many_workers_all_count(database: Database) -> None:
    """Workers failing the same pair at the same moment: the upsert counts every one (none lost)."""
    throttle = LoginThrottle()
    barrier = threading.Barrier(8)

    def worker() -> None:
        with _session(database) as session:
            barrier.wait()
            for _ in range(5):
                throttle.fail(session, "203.0.113.9", "admin")
                session.commit()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with _session(database) as session:
        (row,) = session.scalars(select(LoginFailure)).all()
        assert row.failures == 40
