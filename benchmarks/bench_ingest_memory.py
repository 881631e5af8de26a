"""Does the ingest's writer hold on to memory as reports go by? Steady camera statuses, RSS sampled.

Run: .venv/bin/python -m benchmarks.bench_ingest_memory [--rounds 600] [--postgres URL] [--write]

The soak (benchmarks/soak) measures every process's RSS through chaos, where a backlog after a
broker crash or an ingest kill raises a Python process's RSS for good (freed memory is reused, not
returned), and where on SQLite the connection's page cache (``cache_size``, db.py) fills
for as long as the database grows: over a 30-minute soak that cache is still filling, so the soak's
growth per hour cannot tell a leak from the cache. This benchmark separates them: the real
``BatchWriter`` in this process, 17 agents x 10 cameras, one batch of 170 statuses per round with
status changes (periods, events, public staging), nothing else. A leak grows with every round; a
cache stops at its bound. The verdict: RSS in the last third of the rounds grows less than 1%.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

from benchmarks.bench_ingest import _postgres_database
from benchmarks.report import write_section
from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchWriter, Received, StoreSettings
from central.storage.db import WRITER_SQLITE_CACHE_MIB, Database
from central.storage.migrate import upgrade
from tests.central import factories

AGENTS = [f"agent-{i:02d}" for i in range(17)]
CAMERAS = [f"cam{i:04d}" for i in range(10)]
SAMPLE_EVERY = 50
STATUSES = ("ok", "ok", "ok", "degraded", "offline")  # each camera changes state every few rounds


def _rounds(writer: BatchWriter, rounds: int) -> Iterator[tuple[int, int]]:
    """Write ``rounds`` batches; yields (round, reports written) every SAMPLE_EVERY rounds."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for agent in AGENTS:
        topic, payload = factories.wire(factories.inventory(agent, CAMERAS, start))
        writer.write([Received(topic, payload, start)])
    written = 0
    for number in range(rounds):
        batch = []
        for agent in AGENTS:
            for camera in CAMERAS:
                written += 1
                ts = start + dt.timedelta(seconds=1 + written * 0.01)
                status = STATUSES[(written // len(AGENTS * len(CAMERAS))) % len(STATUSES)]
                topic, payload = factories.wire(factories.camera_status(agent, camera, status, ts))
                batch.append(Received(topic, payload, ts))
        writer.write(batch)
        writer.stage_public(None if number % SAMPLE_EVERY == 0 else set(), set())
        if number % SAMPLE_EVERY == 0 or number == rounds - 1:
            yield number, written


def measure(url: str, rounds: int) -> list[tuple[int, int, float]]:
    """(round, reports written, RSS MiB) samples of one run against ``url`` (migrated here)."""
    database = Database(url, sqlite_cache_mib=WRITER_SQLITE_CACHE_MIB)  # as the ingest opens it
    upgrade(database)
    writer = BatchWriter(database, AgentDirectory.fixed(factories.registry(dict.fromkeys(AGENTS, "16.71"))),
                         StoreSettings())  # fmt: skip
    process = psutil.Process()
    samples = []
    try:
        for number, written in _rounds(writer, rounds):
            gc.collect()
            samples.append((number, written, process.memory_info().rss / 2**20))
            print(f"round {number:5d}: {written:7,d} reports, RSS {samples[-1][2]:.1f} MiB", flush=True)
    finally:
        database.dispose()
    return samples


def verdict(samples: list[tuple[int, int, float]]) -> tuple[float, bool]:
    """Growth (%) of RSS over the last third of the samples, and whether it is under 1%."""
    tail = samples[len(samples) * 2 // 3 :]
    growth = 100.0 * (tail[-1][2] - tail[0][2]) / tail[0][2]
    return growth, growth < 1.0


def report(backend: str, samples: list[tuple[int, int, float]], command: str) -> str:
    growth, met = verdict(samples)
    rows = "\n".join(f"| {n:,} | {w:,} | {rss:.1f} |" for n, w, rss in samples)
    return f"""## Ingest memory: the writer under steady reports ({backend})

`{command}` on {os.cpu_count()} cores ({platform.machine()}), load {os.getloadavg()[0]:.1f} at the end.
17 agents x 10 cameras, 170 statuses per batch with status changes, public state staged; RSS after a
full collection.

| round | reports | RSS (MiB) |
|---:|---:|---:|
{rows}

Growth over the last third: {growth:+.1f}% ({"met" if met else "NOT met"}: under 1%). On SQLite the RSS
rises until the writer connection's page cache (8 MiB, db.WRITER_SQLITE_CACHE_MIB) is full, then stays flat; on PostgreSQL it is flat from
the start. So the growth the soak reports for `central-ingest` over 30 minutes is that cache filling
(and, after a crash, the backlog's peak), not memory lost per report."""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ingest_memory", description=__doc__)
    parser.add_argument("--rounds", type=int, default=600, help="batches of 170 reports (default %(default)s)")
    parser.add_argument("--postgres", metavar="URL", help="on a throw-away database on this PostgreSQL server")
    parser.add_argument("--write", action="store_true", help="record the figures in docs/performance.md")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.postgres:
            url, backend = stack.enter_context(_postgres_database(args.postgres)), "postgresql"
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scc-ingest-memory-")))
            url, backend = f"sqlite:///{directory / 'central.db'}", "sqlite"
        samples = measure(url, args.rounds)
    text = report(backend, samples, "python -m benchmarks.bench_ingest_memory " + " ".join(sys.argv[1:]))
    print(text)
    if args.write:
        write_section(f"ingest-memory-{backend}", text)
    return 0 if verdict(samples)[1] else 1


if __name__ == "__main__":
    sys.exit(main())
