"""Web benchmark: overview and a regency page under gunicorn with 17 regencies x 600 cameras stored.

Measures, against a real gunicorn (the production gunicorn_conf, gthread workers) on this machine:
server time (the app's own Server-Timing, p50/p95 over sequential requests) and throughput and
client latency under load with wrk (a Lua script sends the session cookie). Appends to
docs/performance.md. Run: ``python -m benchmarks.bench_web`` (or ``make bench``).
Goal: overview p95 < 100 ms and >= 200 req/s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

from benchmarks.report import write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Web: overview and regency page (bench_web)"
SECRET = "bench-secret-key-not-for-production"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_database(directory: Path, cameras: int) -> str:
    sys.path.insert(0, str(ROOT))
    from central.storage.db import Database
    from central.storage.migrate import upgrade
    from shared.regencies import all_regencies
    from tests.central.web.seed import seed

    url = f"sqlite:///{directory / 'central.db'}"
    database = Database(url)
    upgrade(database)
    seed(
        database,
        regencies=tuple(r.code for r in all_regencies()),
        cameras_per_regency=cameras,
        websites_per_regency=20,
        offline_agent="16.09",
        history_days=7,
    )
    database.dispose()
    return url


def session_cookie(config_path: Path, username: str = "viewer") -> str:
    """Log in through the app itself (same secret key) and return the signed session cookie."""
    from central.config import load_config
    from central.web import create_app
    from tests.central.web.conftest import csrf_from
    from tests.central.web.seed import PASSWORD

    client = create_app(load_config(config_path)).test_client()
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code
    cookie = client.get_cookie("scc_session")
    assert cookie is not None
    return f"scc_session={cookie.value}"


def wait_healthy(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become healthy")


def server_times(port: int, path: str, cookie: str, count: int) -> list[float]:
    """The app's own time per request (Server-Timing), sequential so queueing does not count."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    for _ in range(count):
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        match = re.search(r"dur=([\d.]+)", response.headers.get("Server-Timing", ""))
        assert match, "no Server-Timing header"
        times.append(float(match.group(1)))
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(share * (len(ordered) - 1)), len(ordered) - 1)]


LUA = """
wrk.headers["Cookie"] = "%s"
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50_ms=%%.2f p95_ms=%%.2f p99_ms=%%.2f\\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def write_config_and_cookie(directory: Path, url: str) -> tuple[Path, str, Path]:
    """central.toml for the benchmark's web, a logged-in session's cookie, and a wrk script sending it."""
    config_path = directory / "central.toml"
    config_path.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(directory),
                "database": {"url": url},
                "web": {"secret_key": SECRET, "session_cookie_secure": False, "rollup_cache_s": 2.0},
            }
        )
    )
    cookie = session_cookie(config_path)
    lua = directory / "cookie.lua"
    lua.write_text(LUA % cookie)
    return config_path, cookie, lua


def run_wrk(port: int, path: str, lua: Path, seconds: int, connections: int) -> dict[str, float]:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}{path}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result = dict(re.findall(r"(\w+_ms)=([\d.]+)", output))
    return {
        "rps": rps,
        "p50_ms": float(result["p50_ms"]),
        "p95_ms": float(result["p95_ms"]),
        "p99_ms": float(result["p99_ms"]),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=600, help="cameras per regency (17 regencies)")
    parser.add_argument("--seconds", type=int, default=15, help="wrk duration per page")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--no-report", action="store_true", help="print only, do not touch docs/performance.md"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt install wrk)", file=sys.stderr)
        return 2
    directory = Path(tempfile.mkdtemp(prefix="scc-bench-web-"))
    started = time.monotonic()
    url = build_database(directory, args.cameras)
    seeded_s = time.monotonic() - started
    config_path, cookie, lua = write_config_and_cookie(directory, url)
    port = free_port()
    env = dict(os.environ)
    env.update(
        SCC_CENTRAL_CONFIG=str(config_path),
        SCC_WEB_BIND=f"127.0.0.1:{port}",
        SCC_WEB_WORKERS=str(args.workers),
        SCC_WEB_THREADS=str(args.threads),
        SCC_WEB_ACCESSLOG="",
        PYTHONPATH=str(ROOT),
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:central.web.gunicorn_conf",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=directory,
    )
    results: dict[str, dict[str, float]] = {}
    try:
        wait_healthy(port)
        for name, path in (("overview", "/"), ("regency page (16.71)", "/regencies/16.71")):
            server_times(port, path, cookie, 20)  # warm up both workers' caches and connections
            times = server_times(port, path, cookie, 300)
            load = run_wrk(port, path, lua, args.seconds, args.connections)
            results[name] = {
                "server_p50_ms": statistics.median(times),
                "server_p95_ms": percentile(times, 0.95),
                **load,
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
    command = (
        f"python -m benchmarks.bench_web --cameras {args.cameras} --seconds {args.seconds} "
        f"--connections {args.connections} --workers {args.workers} --threads {args.threads}"
    )
    lines = [
        SECTION,
        "",
        f"`{command}` — {17 * args.cameras} cameras (17 x {args.cameras}), 340 websites, SQLite WAL, "
        f"gunicorn gthread {args.workers} workers x {args.threads} threads, rollup cached 2 s, "
        f"wrk -t2 -c{args.connections} -d{args.seconds}s with a session cookie, on {os.cpu_count()} cores "
        f"(seeding took {seeded_s:.0f} s). Server time = the app's Server-Timing over 300 sequential requests.",
        "",
        "| page | server p50 | server p95 | req/s (wrk) | wrk p50 | wrk p95 | wrk p99 | non-2xx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['server_p50_ms']:.1f} ms | {r['server_p95_ms']:.1f} ms | {r['rps']:.0f} | "
            f"{r['p50_ms']:.1f} ms | {r['p95_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['non_2xx']:.0f} |"
        )
    overview = results["overview"]
    verdict = overview["server_p95_ms"] < 100 and overview["p95_ms"] < 100 and overview["rps"] >= 200
    lines += ["", f"Goal (overview p95 < 100 ms, >= 200 req/s): {'met' if verdict else 'NOT met'}."]
    print("\n".join(lines))
    if not args.no_report:
        write_section("web", "\n".join(lines))
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
