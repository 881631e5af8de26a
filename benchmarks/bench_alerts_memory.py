"""Does the alerts service hold on to memory tick after tick? Statuses flipping, RSS sampled.

Run: .venv/bin/python -m benchmarks.bench_alerts_memory [--ticks 4000] [--write]

The 30-minute soak judges `central-alerts`' RSS over ~22 minutes after warm-up, about 260 ticks, and
saw it grow 5-8%/h: too short to tell memory lost per tick from a service that is still touching its
code paths for the first time. This benchmark runs the real ``AlertService.tick`` (rules evaluated from
storage, alerts fired, updated and resolved, the change feed written) in this process against SQLite:
17 agents x 10 cameras, the soak's quick rules (fire after 1 minute, resolve after 30 s), a camera
changing state every fourth tick, the clock advancing 5 s per tick (the soak's interval), so 4,000
ticks are 5.5 hours of alerts. No channel is configured: delivery is the senders' (HTTP clients), not
the loop's. A leak grows with every tick; the verdict: RSS over the last two thirds grows less than 2%.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

import psutil

from benchmarks.report import write_section
from central.alerts.config import AlertsConfig
from central.alerts.service import AlertService
from central.config import CentralConfig, DatabaseConfig
from central.storage.db import Database
from central.storage.migrate import upgrade
from shared.regencies import all_regencies
from tests.central.alerts.seed import add_agent, add_camera, set_status

CAMERAS_PER_AGENT = 10
SAMPLE_EVERY = 250
QUICK_RULES = {"fire_after_minutes": 1, "resolve_after_minutes": 0.5}


def measure(directory: Path, ticks: int) -> list[tuple[int, int, float]]:
    """(tick, alerts open, RSS MiB) samples of one run in ``directory``."""
    url = f"sqlite:///{directory / 'central.db'}"
    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    database = Database(url)
    upgrade(database)
    agents = [(f"agent-{regency.slug}", regency.code) for regency in all_regencies()]
    with database.session(write=True) as session:
        for agent, code in agents:
            add_agent(session, agent, code, now)
            for number in range(CAMERAS_PER_AGENT):
                add_camera(session, agent, f"{agent}-cam{number}", code, now)
    alerts = AlertsConfig.model_validate({"interval_s": 5, "rules": {"camera": {"offline": QUICK_RULES,
                                                                                "degraded": QUICK_RULES}}})
    config = CentralConfig(state_dir=directory, database=DatabaseConfig(url=url), alerts=alerts)
    clock = [now]
    service = AlertService(config, database, clock=lambda: clock[0], senders={})
    rng, bad, process, samples = random.Random(1), set[tuple[str, int]](), psutil.Process(), []
    try:
        for tick in range(ticks + 1):
            clock[0] += dt.timedelta(seconds=5)
            if tick % 4 == 0:
                agent, number = rng.choice(agents)[0], rng.randrange(CAMERAS_PER_AGENT)
                status = "ok" if (agent, number) in bad else rng.choice(("offline", "degraded"))
                (bad.discard if status == "ok" else bad.add)((agent, number))
                with database.session(write=True) as session:
                    set_status(session, agent, f"{agent}-cam{number}", status, clock[0])
            service.tick()
            if tick % SAMPLE_EVERY == 0:
                gc.collect()
                samples.append((tick, len(bad), process.memory_info().rss / 2**20))
                print(f"tick {tick:5d}: {len(bad):3d} cameras bad, RSS {samples[-1][2]:.1f} MiB", flush=True)
    finally:
        service.close()
        database.dispose()
    return samples


def verdict(samples: list[tuple[int, int, float]]) -> tuple[float, bool]:
    """Growth (%) of RSS over the last two thirds of the samples, and whether it is under 2%."""
    tail = samples[len(samples) // 3 :]
    growth = 100.0 * (tail[-1][2] - tail[0][2]) / tail[0][2]
    return growth, growth < 2.0


def report(samples: list[tuple[int, int, float]], command: str) -> str:
    growth, met = verdict(samples)
    rows = "\n".join(f"| {tick:,} | {bad} | {rss:.1f} |" for tick, bad, rss in samples)
    hours = samples[-1][0] * 5 / 3600
    return f"""## Alerts memory: the evaluation loop under flipping statuses (sqlite)

`{command}` on {os.cpu_count()} cores ({platform.machine()}), load {os.getloadavg()[0]:.1f} at the end.
17 agents x 10 cameras, a camera changing state every fourth tick, 5 s per tick ({hours:.1f} h of alerts);
RSS after a full collection.

| tick | cameras bad | RSS (MiB) |
|---:|---:|---:|
{rows}

Growth over the last two thirds: {growth:+.1f}% ({"met" if met else "NOT met"}: under 2%)."""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_alerts_memory", description=__doc__)
    parser.add_argument("--ticks", type=int, default=4000, help="evaluation ticks (default %(default)s)")
    parser.add_argument("--write", action="store_true", help="record the figures in docs/performance.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scc-alerts-memory-") as directory:
        samples = measure(Path(directory), args.ticks)
    text = report(samples, "python -m benchmarks.bench_alerts_memory " + " ".join(sys.argv[1:]))
    print(text)
    if args.write:
        write_section("alerts-memory", text)
    return 0 if verdict(samples)[1] else 1


if __name__ == "__main__":
    sys.exit(main())
