"""Does an alert tick cost more as the history kept grows? Tick time and RSS at growing history.

Run: .venv/bin/python -m benchmarks.bench_alerts_history [--days 1 30 365] [--postgres URL] [--write]

The alert loop evaluates every rule every few seconds for ever, while central keeps the status history
(periods, kept) and 30 days of raw host metrics (pruned). A tick that reads that history grows slower
and bigger every day: the soak saw `central-alerts` grow 5-8%/h while the database grew. This benchmark
seeds the province with `days` of history (17 agents x 10 cameras; each camera flaps offline and back
four times a day, a tenth of them degraded too; one host sample per agent per minute for up to the
last 30 days, as retention keeps), opens a few alerts, and times the real ``AlertService.tick``
against it. The verdict: the median tick at the longest history is within 1.5x of the one with a day's
(a system that has run for a day: its host samples already fill the rules' look-back).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import insert, text, update

from benchmarks.bench_ingest import _postgres_database
from benchmarks.report import write_section
from central.alerts.config import AlertsConfig
from central.alerts.service import AlertService
from central.config import CentralConfig, DatabaseConfig
from central.storage.db import Database
from central.storage.migrate import upgrade
from central.storage.models import Camera, CameraStatusChange, HostMetric
from shared.regencies import all_regencies
from tests.central.alerts.seed import add_agent, add_camera, set_status

CAMERAS_PER_AGENT = 10
FLAPS_PER_DAY = 4
HOST_SAMPLES_DAYS = 30  # raw host metrics are pruned after the retention period
TICKS = 30
NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Figure:
    days: int
    periods: int
    host_samples: int
    tick_ms: float  # median
    rss_mib: float


def measure(url: str, days: int) -> Figure:
    database = Database(url)
    upgrade(database)
    agents = [(f"agent-{regency.slug}", regency.code) for regency in all_regencies()]
    start = NOW - dt.timedelta(days=days)
    with database.session(write=True) as session:
        for agent, code in agents:
            add_agent(session, agent, code, start)
            for number in range(CAMERAS_PER_AGENT):
                add_camera(session, agent, f"{agent}-cam{number}", code, start)
    periods = _seed_periods(database, start, days)
    samples = _seed_host_samples(database, [agent for agent, _ in agents], days)
    alerts = AlertsConfig.model_validate({"interval_s": 5, "rules": {"camera": {"offline": {"fire_after_minutes": 1}}}})
    config = CentralConfig(state_dir=Path(tempfile.gettempdir()), database=DatabaseConfig(url=url), alerts=alerts)
    clock = [NOW]
    service = AlertService(config, database, clock=lambda: clock[0], senders={})
    with database.session(write=True) as session:  # a few cameras down now: alerts open and resolving
        for agent, _ in agents[:3]:
            set_status(session, agent, f"{agent}-cam0", "offline", NOW - dt.timedelta(minutes=5))
    service.tick()
    with database.session(write=True) as session:
        set_status(session, agents[0][0], f"{agents[0][0]}-cam0", "ok", NOW)
    process, times = psutil.Process(), []
    try:
        for _ in range(TICKS):
            clock[0] += dt.timedelta(seconds=5)
            began = time.perf_counter()
            service.tick()
            times.append(time.perf_counter() - began)
        gc.collect()
        rss = process.memory_info().rss / 2**20
    finally:
        service.close()
        database.dispose()
    return Figure(days, periods, samples, 1000 * statistics.median(times), rss)


def _seed_periods(database: Database, start: dt.datetime, days: int) -> int:
    """Closed periods before each camera's current one: ok, then offline (or degraded) for 20 minutes."""
    if days == 0:
        return 0
    rows = []
    with database.engine.connect() as conn:
        pks = list(conn.execute(text("SELECT id FROM cameras ORDER BY id")).scalars())
    step = dt.timedelta(days=1) / FLAPS_PER_DAY
    for pk in pks:
        at = start
        for flap in range(days * FLAPS_PER_DAY):
            bad = "degraded" if (pk + flap) % 10 == 0 else "offline"
            down = at + step - dt.timedelta(minutes=20)
            rows.append(_period(pk, "ok", at, down))
            rows.append(_period(pk, bad, down, at + step))
            at += step
    with database.engine.begin() as conn:
        conn.execute(update(CameraStatusChange).where(CameraStatusChange.ended_at.is_(None)).values(started_at=NOW))
        conn.execute(update(Camera).values(status_since=NOW))
        for chunk in range(0, len(rows), 20_000):
            conn.execute(insert(CameraStatusChange), rows[chunk : chunk + 20_000])
    return len(rows)


def _period(pk: int, status: str, started: dt.datetime, ended: dt.datetime) -> dict[str, object]:
    return {"camera_pk": pk, "status": status, "reason": "ok" if status == "ok" else "unreachable", "message": "",
            "started_at": started, "ended_at": ended, "duration_s": (ended - started).total_seconds()}


def _seed_host_samples(database: Database, agents: list[str], days: int) -> int:
    minutes = min(days, HOST_SAMPLES_DAYS) * 24 * 60
    if minutes == 0:
        return 0
    total = 0
    with database.engine.begin() as conn:
        for agent in agents:
            rows = [_sample(agent, NOW - dt.timedelta(minutes=minute)) for minute in range(minutes)]
            for chunk in range(0, len(rows), 20_000):
                conn.execute(insert(HostMetric), rows[chunk : chunk + 20_000])
            total += len(rows)
    return total


def _sample(agent: str, ts: dt.datetime) -> dict[str, object]:
    return {"agent_name": agent, "ts": ts, "received_at": ts, "cpu_percent": 20.0, "load_1m": 0.5,
            "memory_used_bytes": 1 << 30, "memory_total_bytes": 4 << 30, "disk_used_bytes": 10 << 30,
            "disk_total_bytes": 64 << 30, "temperatures_c": {"cpu": 50.0}, "uptime_s": 1000.0,
            "net_bytes_sent": 0, "net_bytes_recv": 0, "outbox_depth": 0, "outbox_bytes": 0,
            "outbox_dropped_total": 0}


def verdict(figures: list[Figure]) -> tuple[float, bool]:
    ratio = figures[-1].tick_ms / figures[0].tick_ms
    return ratio, ratio <= 1.5


def report(figures: list[Figure], command: str, backend: str) -> str:
    ratio, met = verdict(figures)
    rows = "\n".join(f"| {f.days} | {f.periods:,} | {f.host_samples:,} | {f.tick_ms:.1f} | {f.rss_mib:.0f} |"
                     for f in figures)
    return f"""## Alerts: one tick against a growing history ({backend})

`{command}` on {os.cpu_count()} cores ({platform.machine()}), load {os.getloadavg()[0]:.1f} at the end.
17 agents x 10 cameras, each flapping {FLAPS_PER_DAY} times a day for the days of history; one host sample
per agent per minute for up to the last {HOST_SAMPLES_DAYS} days (retention); {TICKS} ticks each, median shown.
RSS is the whole benchmark process after the run (it grows with the seeding too).

| history (days) | status periods | host samples | tick (ms) | RSS (MiB) |
|---:|---:|---:|---:|---:|
{rows}

Longest history / shortest: {ratio:.2f}x ({"met" if met else "NOT met"}: at most 1.5x)."""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_alerts_history", description=__doc__)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 30, 365], help="histories (default %(default)s)")
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a throw-away database per history)")
    parser.add_argument("--write", action="store_true", help="record the figures in docs/performance.md")
    args = parser.parse_args()
    figures = []
    with tempfile.TemporaryDirectory(prefix="scc-alerts-history-") as directory:
        for days in args.days:
            if args.postgres:
                with _postgres_database(args.postgres) as url:
                    figure = measure(url, days)
            else:
                figure = measure(f"sqlite:///{Path(directory) / f'central-{days}.db'}", days)
            print(f"{days} days: {figure.periods:,} periods, {figure.host_samples:,} host samples, "
                  f"tick {figure.tick_ms:.1f} ms", flush=True)
            figures.append(figure)
    backend = "postgresql" if args.postgres else "sqlite"
    text_ = report(figures, "python -m benchmarks.bench_alerts_history " + " ".join(sys.argv[1:]), backend)
    print(text_)
    if args.write:
        write_section(f"alerts-history-{backend}", text_)
    return 0 if verdict(figures)[1] else 1


if __name__ == "__main__":
    sys.exit(main())
