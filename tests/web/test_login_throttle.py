"""A stranger guessing passwords is slowed down more and more, and locks nobody else out.

The attack from the issue: behind the documented nginx on 127.0.0.1, five wrong passwords for `admin`
(with any X-Forwarded-For) used to lock every user out for five minutes, the right password included.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from central.web.ratelimit import LoginThrottle
from tests.web.conftest import csrf_from
from tests.web.seed import PASSWORD

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


def test_delays_grow_and_are_forgotten() -> None:
    throttle = LoginThrottle(free_failures=3, base_delay_s=2, max_delay_s=60, forget_after_s=900)
    waits = []
    now = 1000.0
    for _ in range(10):
        throttle.fail("203.0.113.9", "Admin", now)
        waits.append(throttle.retry_after("203.0.113.9", "admin", now))
    assert waits == [0, 0, 2, 4, 8, 16, 32, 60, 60, 60]
    assert throttle.retry_after("198.51.100.20", "admin", now) == 0
    assert throttle.retry_after("203.0.113.9", "admin", now + 60) == 0  # the delay passed
    throttle.fail("203.0.113.9", "admin", now + 2000)  # long after: counting starts over
    assert throttle.retry_after("203.0.113.9", "admin", now + 2000) == 0
    throttle.succeed("203.0.113.9", "admin")
    assert throttle.retry_after("203.0.113.9", "admin", now) == 0


def test_memory_stays_bounded_under_a_spray() -> None:
    throttle = LoginThrottle(max_keys=100)
    for n in range(1000):
        throttle.fail(f"10.0.{n // 256}.{n % 256}", f"user{n}", 1000.0 + n)
    assert len(throttle._records) <= 101
