"""Several web instances on one PostgreSQL behind one address (docs/scaling.md, "Past one box").

Two real `scc-central serve` (gunicorn) instances, each with a state dir of its own as on two boxes,
share one PostgreSQL database and the configured ``web.secret_key``; nginx round-robins between them.
A login made through one is honoured by the other, a logout through either ends it on both, and the
live stream works through each.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import tomli_w

from central.storage.db import Database
from tests.central.web.conftest import csrf_from
from tests.central.web.seed import PASSWORD, seed
from tests.central.web.test_gunicorn import start_serve
from tests.central.web.test_live import break_camera, events
from tests.fixtures.broker import free_port
from tests.fixtures.database import _empty_postgres

pytestmark = pytest.mark.xdist_group("gunicorn")

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SECRET_KEY = "the-same-key-on-every-box"

# The proxy a site would put in front (minus TLS): round robin, no buffering of the live stream, and
# which instance answered in a header so the test can see the requests being spread.
NGINX_CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream scc {{ {servers} }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://scc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_read_timeout 60s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Farm:
    proxy: str
    instances: tuple[str, ...]
    database: Database


def _config(directory: Path, url: str) -> Path:
    directory.mkdir()
    path = directory / "central.toml"
    web = {"secret_key": SECRET_KEY, "session_cookie_secure": False, "sse_max_s": 20.0, "sse_poll_s": 0.2}
    path.write_text(
        tomli_w.dumps({"state_dir": str(directory / "state"), "database": {"url": url}, "web": web})
    )
    return path


def _start_nginx(directory: Path, upstream_ports: list[int]) -> tuple[subprocess.Popen[bytes], int]:
    directory.mkdir()
    port = free_port()
    servers = " ".join(f"server 127.0.0.1:{p};" for p in upstream_ports)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, servers=servers, port=port))
    process = subprocess.Popen([NGINX, "-p", str(directory), "-c", str(conf)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
            return process, port
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    process.stderr.read().decode() if process.stderr else "nginx died"
                ) from None
            time.sleep(0.1)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, postgres_server: str) -> Iterator[Farm]:
    """Started once for the module (two gunicorns and nginx take a while on a busy box)."""
    tmp_path = tmp_path_factory.mktemp("farm")
    postgres_url = postgres_server
    _empty_postgres(postgres_url)
    database = Database(postgres_url)
    seed(database, cameras_per_regency=2, websites_per_regency=1, thumbnails=False, history_days=1)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ports = []
        for name in ("box-a", "box-b"):
            port = free_port()
            processes.append(start_serve(_config(tmp_path / name, postgres_url), port, cwd=tmp_path))
            ports.append(port)
        nginx, proxy_port = _start_nginx(tmp_path / "nginx", ports)
        processes.append(nginx)
        yield Farm(f"http://127.0.0.1:{proxy_port}", tuple(f"http://127.0.0.1:{p}" for p in ports), database)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        database.dispose()


def _log_in(base: str) -> str:
    """Log the viewer in through ``base``; returns the Cookie header value."""
    with httpx.Client(base_url=base, timeout=10) as client:
        token = csrf_from(client.get("/login").text)
        response = client.post(
            "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302, response.text
        cookie = client.cookies.get("scc_session")
    assert cookie
    return f"scc_session={cookie}"


def _overview(base: str, cookie: str) -> httpx.Response:
    return httpx.get(f"{base}/", headers={"Cookie": cookie}, timeout=10)


def test_a_login_through_the_proxy_is_honoured_by_every_instance_and_a_logout_ends_it_on_all(
    farm: Farm,
) -> None:
    cookie = _log_in(farm.proxy)
    answered_by = set()
    for _ in range(4):  # round robin: both instances answer, and both know the login
        response = _overview(farm.proxy, cookie)
        assert response.status_code == 200, response.headers.get("location")
        answered_by.add(response.headers["X-Upstream"])
    assert len(answered_by) == 2
    for instance in farm.instances:
        assert _overview(instance, cookie).status_code == 200

    first, second = farm.instances
    page = _overview(second, cookie)  # the page's form token rides in the cookie it sets
    with_token = f"scc_session={page.cookies['scc_session']}"
    response = httpx.post(f"{second}/logout", headers={"Cookie": with_token},
                          data={"csrf_token": csrf_from(page.text)}, timeout=10)  # fmt: skip
    assert response.status_code == 302
    for base in (first, second, farm.proxy):  # the copy of the cookie is dead everywhere
        response = _overview(base, cookie)
        assert response.status_code == 302 and "/login" in response.headers["location"]


def test_a_login_on_one_instance_is_honoured_by_the_other(farm: Farm) -> None:
    first, second = farm.instances
    cookie = _log_in(first)
    assert _overview(second, cookie).status_code == 200
    assert "/login" in httpx.get(f"{second}/", timeout=10).headers["location"]  # and nobody else is let in


def test_the_live_stream_works_through_either_instance(farm: Farm) -> None:
    cookie = _log_in(farm.proxy)
    with httpx.Client(timeout=15, headers={"Cookie": cookie}) as client:
        streams = {}
        for _ in range(4):  # one stream from each instance, both through the one address
            if len(streams) == 2:
                break
            response = client.send(client.build_request("GET", f"{farm.proxy}/live/events"), stream=True)
            assert response.status_code == 200
            upstream = response.headers["X-Upstream"]
            if upstream in streams:
                response.close()
                continue
            stream = events(response.iter_text())
            assert next(stream)[0] == "hello"
            streams[upstream] = (response, stream)
        assert len(streams) == 2
        break_camera(farm.database)  # as the ingest writes it, into the one shared database
        for response, stream in streams.values():
            name, data = next(stream)
            change = json.loads(data)
            assert name == "change" and (change["regency"], change["state"]) == ("16.71", "offline")
            response.close()
