"""`scc-central serve` under real gunicorn: open live streams hold threads, other requests still get through."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from central.config import load_config
from central.storage.db import Database
from central.web import create_app
from tests.web.conftest import csrf_from
from tests.web.seed import PASSWORD, Seeded

pytestmark = pytest.mark.xdist_group("gunicorn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, web_database: Database, seeded: Seeded) -> Iterator[tuple[int, str]]:
    config_path = tmp_path / "central.toml"
    config_path.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(tmp_path / "state"),
                "database": {"url": str(web_database.url)},
                "web": {
                    "secret_key": "gunicorn-test",
                    "session_cookie_secure": False,
                    "sse_max_s": 3.0,
                    "sse_poll_s": 0.2,
                },
            }
        )
    )
    client = create_app(load_config(config_path)).test_client()
    token = csrf_from(client.get("/login").text)
    client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    cookie = client.get_cookie("scc_session")
    assert cookie is not None
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "central.cli",
        "--config",
        str(config_path),
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    process.stderr.read().decode() if process.stderr else "gunicorn died"
                ) from None
            time.sleep(0.2)
    try:
        yield port, f"scc_session={cookie.value}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_streams_do_not_starve_pages_and_end_on_time(served: tuple[int, str]) -> None:
    port, cookie = served
    streams = []
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/live/events", headers={"Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Type", "").startswith(
            "text/event-stream"
        )
        assert b"event: hello" in response.read1(4096)
        streams.append((connection, response))
    started = time.monotonic()
    page = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    page.request("GET", "/", headers={"Cookie": cookie})
    overview = page.getresponse()
    assert overview.status == 200 and b"regency-tiles" in overview.read()
    assert time.monotonic() - started < 5
    for connection, response in streams:
        body = response.read()  # returns when the server ends the stream (sse_max_s = 3)
        assert body.rstrip().endswith(b"data: {}") and b"event: bye" in body
        connection.close()
