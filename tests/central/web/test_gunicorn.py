"""`scc-central serve` under real gunicorn: open live streams hold threads, other requests still get through."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tomli_w

from central.config import load_config
from central.storage.db import Database
from central.web import create_app
from tests.central.web.conftest import csrf_from
from tests.central.web.seed import PASSWORD, Seeded

pytestmark = pytest.mark.xdist_group("gunicorn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ROOT = Path(__file__).resolve().parents[3]
# Imports the project the way an editable install does (a meta path finder, the checkout not on sys.path):
# then a folder named central/ in the working directory is a namespace package Flask's lookup trips on.
EDITABLE_FINDER = f"""
import sys
from importlib.machinery import PathFinder

TOP = ("central", "shared", "edge_agent", "provisioning", "simulator")


class _Checkout:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        parent, _, _ = fullname.rpartition(".")
        if fullname in TOP:
            return PathFinder.find_spec(fullname, [{str(ROOT)!r}])
        if parent in TOP:  # as setuptools' finder: children too, when the parent is a namespace elsewhere
            return PathFinder.find_spec(fullname, [{str(ROOT)!r} + "/" + parent])
        return None

# After the path finder, like setuptools' finder: a namespace portion on sys.path is found first.
sys.meta_path.insert(sys.meta_path.index(PathFinder) + 1, _Checkout)
"""


def start_serve(
    config_path: Path, port: int, cwd: Path, env: dict[str, str] | None = None, workers: int = 1
) -> subprocess.Popen[bytes]:
    """`scc-central serve`, once /healthz answers; stderr is kept for the failure message."""
    command = [sys.executable, "-m", "central.cli", "--config", str(config_path), "serve", "--bind",
               f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4", "--no-access-log"]  # fmt: skip
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    process.stderr.read().decode() if process.stderr else "gunicorn died"
                ) from None
            time.sleep(0.2)


def _config_file(tmp_path: Path, database: Database) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(tmp_path / "state"),
                "database": {"url": str(database.url)},
                "web": {"secret_key": "gunicorn-test", "session_cookie_secure": False},
            }
        )
    )
    return path


def test_serve_runs_from_any_directory_and_instances_share_no_control_socket(
    tmp_path: Path, web_database: Database, seeded: Seeded
) -> None:
    config_path = _config_file(tmp_path, web_database)
    workdir = tmp_path / "work"
    (workdir / "central").mkdir(parents=True)  # e.g. a checkout or backup next to where serve is started
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(EDITABLE_FINDER)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XDG_RUNTIME_DIR")}
    env |= {"PYTHONPATH": str(site), "HOME": str(home)}
    processes = []
    try:
        for _ in range(2):
            processes.append(start_serve(config_path, _free_port(), cwd=workdir, env=env))
        assert not (home / ".gunicorn").exists()  # gunicorn's per-user default, which the instances shared
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


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
                    "sse_max_s": 6.0,
                    "sse_poll_s": 0.2,
                    "stream_slots": STREAM_SLOTS,
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
    process = start_serve(config_path, port, cwd=tmp_path)
    try:
        yield port, f"scc_session={cookie.value}"
    finally:
        process.terminate()
        process.wait(timeout=30)


STREAM_SLOTS = 6  # with --threads 4: more streams than page threads


def _open_stream(
    port: int, cookie: str
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/live/events", headers={"Cookie": cookie})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/event-stream")
    return connection, response, response.read1(4096)


def test_streams_do_not_starve_pages_and_end_on_time(served: tuple[int, str]) -> None:
    port, cookie = served
    streams = []
    for _ in range(STREAM_SLOTS):
        connection, response, first = _open_stream(port, cookie)
        assert b"event: hello" in first
        streams.append((connection, response))
    started = time.monotonic()
    for path in (
        "/",
        "/healthz",
        "/regencies/16.71",
    ):  # more streams open than page threads, pages still served
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        page.request("GET", path, headers={"Cookie": cookie})
        assert page.getresponse().status == 200
    assert time.monotonic() - started < 5
    connection, response, first = _open_stream(port, cookie)  # every slot taken: told to come back later
    assert b"event: busy" in first and b"retry: 10000" in first
    connection.close()
    for connection, response in streams:
        body = response.read()  # returns when the server ends the stream (sse_max_s = 6)
        assert body.rstrip().endswith(b"data: {}") and b"event: bye" in body
        connection.close()


def test_a_closed_tab_frees_its_stream_within_seconds(served: tuple[int, str]) -> None:
    port, cookie = served
    streams = [_open_stream(port, cookie) for _ in range(STREAM_SLOTS)]
    gone, _, _ = streams.pop()
    gone.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]  # the browser closed the tab
    gone.close()
    freed_after = None
    started = time.monotonic()
    while time.monotonic() - started < 4.5:  # before the open ones end by themselves (sse_max_s = 6)
        connection, _, first = _open_stream(port, cookie)
        connection.close()
        if b"event: hello" in first:
            freed_after = time.monotonic() - started
            break
        time.sleep(0.2)
    assert freed_after is not None, "the closed stream's slot was not freed"
    for connection, _, _ in streams:
        connection.close()


def _login(port: int, user: str, password: str, forwarded_for: str) -> int:
    """One login over HTTP as it arrives from nginx on 127.0.0.1; returns the status."""
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"X-Forwarded-For": forwarded_for}
    ) as client:
        token = csrf_from(client.get("/login").text)
        response = client.post("/login", data={"username": user, "password": password, "csrf_token": token})
        return response.status_code


def test_a_stranger_behind_the_proxy_locks_nobody_out(served: tuple[int, str]) -> None:
    # The attack from the issue, on the real server: wrong passwords for admin with a forged header...
    port, _ = served
    statuses = [_login(port, "admin", "guess", f"10.1.1.{n}, 203.0.113.9") for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    # ...and the right password from the operator's address still goes in.
    assert _login(port, "admin", PASSWORD, "198.51.100.20") == 302


def test_workers_share_the_login_throttle(tmp_path: Path, web_database: Database, seeded: Seeded) -> None:
    """Two gunicorn workers, each attempt on a new connection (either worker takes it): one count."""
    port = _free_port()
    process = start_serve(_config_file(tmp_path, web_database), port, cwd=tmp_path, workers=2)

    def attempt(password: str) -> int:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            token = csrf_from(client.get("/login").text)
            data = {"username": "operator", "password": password, "csrf_token": token}
            return client.post("/login", data=data).status_code

    try:
        assert [attempt("guess") for _ in range(8)] == [401, 401, 401] + [429] * 5
    finally:
        process.terminate()
        process.wait(timeout=30)
