"""Edge agent throughput: one agent checks N simulated cameras per cycle; CPU per check, RSS, naive ONVIF ratio.

Run: .venv/bin/python -m benchmarks.bench_agent [--cameras 1000] [--rtsp-every 10]
The simulator runs as a separate process on the same machine (its CPU is not counted for the agent).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import resource
import sys
import time
from pathlib import Path

import psutil

from edge_agent.checks.base import CameraTarget
from edge_agent.onvif_client import OnvifSession
from edge_agent.scheduler import CameraChecker, close_resources, make_resources
from simulator.testing import run_fleet_process
from tests.edge_agent.conftest import agent_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
SECTION = "## Edge agent: cameras per cycle"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _naive(cameras: list, count: int) -> float:
    """CPU seconds per check building a fresh ONVIF client each time (the naive way)."""
    from onvif import ONVIFCamera

    start = _cpu()
    for camera in cameras[:count]:
        client = ONVIFCamera(camera.host, camera.onvif_port, camera.username, camera.password, adjust_time=True)
        await client.update_xaddrs()
        devicemgmt = await client.create_devicemgmt_service()
        await devicemgmt.GetDeviceInformation()
        media = await client.create_media_service()
        profiles = await media.GetProfiles()
        await media.GetSnapshotUri({"ProfileToken": profiles[0].token})
        await client.close()
    return (_cpu() - start) / count


async def _reused(cameras: list, count: int) -> float:
    sessions = [OnvifSession(c.host, c.onvif_port, c.username, c.password) for c in cameras[:count]]
    for session in sessions:  # warm: the agent builds a session once per camera
        await session.system_time()
        await session.device_information()
        await session.refresh_media()
    start = _cpu()
    for session in sessions:
        await session.system_time()
        await session.device_information()
    per = (_cpu() - start) / count
    for session in sessions:
        await session.close()
    return per


async def _cycle(args: argparse.Namespace, fleet, state: Path) -> dict[str, float]:
    config = agent_config("bench-agent", state, schedule={
        "concurrency": args.concurrency, "rtsp_every": args.rtsp_every, "thumbnail_every_s": 1,
        "workers": 2, "rtsp_concurrency": 2,
    }, timeouts={"rtsp_probe_s": 1.5})
    resources = make_resources(config)
    checker = CameraChecker(config, resources)
    targets = [CameraTarget(camera_id=c.id, host=c.host, port=c.onvif_port, username=c.username,
                            password=c.password) for c in fleet.cameras]
    slots = asyncio.Semaphore(args.concurrency)
    results = []

    async def one(target: CameraTarget) -> None:
        async with slots:
            results.append(await checker.cycle(target))

    # Warm-up cycle: sessions, profiles and URIs are set up once per camera, then reused.
    await asyncio.gather(*(one(t) for t in targets))
    results.clear()
    cpu0, wall0 = _cpu(), time.monotonic()
    await asyncio.gather(*(one(t) for t in targets))
    cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
    states: dict[str, int] = {}
    for r in results:
        states[r.decision.state.value] = states.get(r.decision.state.value, 0) + 1
    figures = {
        "cameras": len(targets), "wall_s": wall, "cpu_s": cpu, "cpu_ms_per_check": cpu * 1000 / len(targets),
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
        "thumbnails": sum(1 for r in results if r.thumbnail), "rtsp_decodes": sum(
            1 for r in results for o in r.outcomes if o.check == "stream" and o.outcome.value != "skipped"),
        "ok": states.get("ok", 0),
    }
    figures["naive_cpu_ms"] = await _naive(fleet.cameras, 30) * 1000
    figures["reused_cpu_ms"] = await _reused(fleet.cameras, 30) * 1000
    await checker.close()
    await close_resources(resources)
    return figures


def _write(figures: dict[str, float], command: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    text = re.sub(rf"\n{re.escape(SECTION)}\n.*?(?=\n## |\Z)", "", text, flags=re.S).rstrip() + "\n"
    per_minute = figures["cameras"] * 60 / figures["wall_s"]
    text += f"""
{SECTION}

Measured {dt.date.today()} on {platform.node()} ({os.cpu_count()} cores), simulator in a separate process on
the same machine. Command: `{command}`

| figure | value |
|---|---|
| cameras checked in one cycle | {figures['cameras']:.0f} ({figures['ok']:.0f} ok) |
| wall time of the cycle | {figures['wall_s']:.1f} s (→ {per_minute:.0f} cameras per 60 s) |
| agent CPU per camera check (ONVIF + snapshot + analysis + thumbnail, RTSP on rotation) | {figures['cpu_ms_per_check']:.1f} ms |
| thumbnails / RTSP decodes in the cycle | {figures['thumbnails']:.0f} / {figures['rtsp_decodes']:.0f} |
| agent RSS after the cycle | {figures['rss_mb']:.0f} MB |
| ONVIF CPU per check, session reused (agent) | {figures['reused_cpu_ms']:.1f} ms |
| ONVIF CPU per check, fresh client per check (naive) | {figures['naive_cpu_ms']:.1f} ms |
| naive / reused | {figures['naive_cpu_ms'] / max(figures['reused_cpu_ms'], 1e-6):.1f}x |
"""
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--rtsp-every", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as state, run_fleet_process(args.cameras, startup_timeout=300) as fleet:
        figures = asyncio.run(_cycle(args, fleet, Path(state)))
    for key, value in figures.items():
        print(f"{key}: {value:.2f}")
    _write(figures, "python -m benchmarks.bench_agent " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
