"""Live-view benchmark: agent-to-viewer latency, agent CPU per stream, relay CPU per viewer.

Real parts, each its own process as in production: the simulator's RTSP cameras, the agent
(``scc-agent run``), the TLS broker, the live-view relay (``scc-central live-relay``); viewers are
threads reading the relay's socket (what each web request does before copying to its browser).
Latency is from the frame's ``ts`` (stamped on the agent right after decoding and encoding it) to its
arrival at a viewer, on one clock; the camera's own encode and RTSP delivery before the agent's decode,
and the browser's copy after the relay, are not in it. CPU is each process's user+system time over
the measured window, from /proc (psutil).
Run: ``python -m benchmarks.bench_live_view``. Figures go to docs/performance.md (bench:live_view).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import tomli_w

from benchmarks.report import write_section
from central.live_view.wire import watch
from provisioning import operations
from shared.messages import LiveFrame, LiveState
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import config_data
from tests.fixtures.broker import CENTRAL, TlsBroker, make_pki

ROOT = Path(__file__).resolve().parent.parent


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _measure(socket_path: Path, agent: str, cameras: list[str], viewers_per_camera: int, seconds: float,
             agent_proc: psutil.Process, relay_proc: psutil.Process) -> dict[str, float]:
    latencies: list[float] = []
    frames: list[int] = []
    sizes: list[int] = []
    lock = threading.Lock()
    start_measuring = threading.Event()
    stop_at = [0.0]

    def viewer(camera_id: str) -> None:
        count = 0
        for decoded in watch(socket_path, agent, camera_id, 30):
            message = decoded.message
            assert isinstance(message, LiveFrame)
            if message.state is not LiveState.FRAME:
                raise RuntimeError(f"{camera_id}: stream ended: {message.reason} {message.message}")
            if start_measuring.is_set():
                now = time.time()
                if now > stop_at[0]:
                    break
                with lock:
                    latencies.append(now - message.ts.timestamp())
                    sizes.append(message.size_bytes)
                count += 1
        with lock:
            frames.append(count)

    threads = [threading.Thread(target=viewer, args=(camera,), daemon=True)
               for camera in cameras for _ in range(viewers_per_camera)]
    for thread in threads:
        thread.start()
    time.sleep(5)  # every stream up and at its steady rate
    agent_before, relay_before = _cpu_s(agent_proc), _cpu_s(relay_proc)
    stop_at[0] = time.time() + seconds
    start_measuring.set()
    for thread in threads:
        thread.join(seconds + 30)
    agent_cpu = (_cpu_s(agent_proc) - agent_before) / seconds * 100
    relay_cpu = (_cpu_s(relay_proc) - relay_before) / seconds * 100
    viewers = len(threads)
    return {
        "viewers": viewers, "cameras": len(cameras),
        "p50_ms": _percentile(latencies, 0.5) * 1000, "p95_ms": _percentile(latencies, 0.95) * 1000,
        "fps": statistics.mean(frames) / seconds, "kb": statistics.mean(sizes) / 1000,
        "agent_cpu_per_stream": agent_cpu / len(cameras), "relay_cpu_per_viewer": relay_cpu / viewers,
        "agent_cpu": agent_cpu, "relay_cpu": relay_cpu,
    }


@dataclass(frozen=True, slots=True)
class LiveStack:
    """The running live-view path without the web: simulator, broker, agent and relay processes."""

    root: Path
    agent: str
    agent_process: psutil.Process
    relay_process: psutil.Process
    central_toml: Path
    socket_path: Path
    fleet: FleetClient


@contextlib.contextmanager
def live_stack(root: Path, cameras: int, sim_args: Sequence[str] = (),
               central: dict[str, Any] | None = None) -> Iterator[LiveStack]:
    """``cameras`` simulated cameras streamed by one agent (``cam0``...), a TLS broker and the relay, each
    its own process. Both budgets (agent.toml and central.toml) are raised to 20 Mbit/s, so the rate is
    the 5 fps cap; ``central`` adds sections to central.toml (the web's database, for example)."""
    with run_fleet_process(cameras, extra_args=["--discovery-port", "0", *sim_args]) as fleet:
        root.chmod(0o755)  # the broker runs as mosquitto and reads its files under here
        pki = make_pki(root / "pki")
        broker = TlsBroker(pki=pki, run_dir=root / "broker")
        broker.run_dir.mkdir()
        broker.run_dir.chmod(0o755)
        broker.start()
        agent = pki.provision_agent()
        broker.reload()
        camera_tables = [{"id": f"cam{i}", "host": c.host, "port": c.onvif_port, "username": c.username,
                          "password": c.password, "rtsp_url": c.rtsp_url, "onvif": False}
                         for i, c in enumerate(fleet.cameras)]
        agent_toml = root / "agent.toml"
        agent_toml.write_text(tomli_w.dumps(config_data(
            agent, root / "agent", broker_port=broker.port, ca=pki.ca_cert, cert=pki.cert(agent),
            key=pki.key(agent), schedule={"interval_s": 600, "metrics_every_s": 600, "discovery_every_s": 3600},
            discovery={"enabled": False}, live={"max_kbps": 20_000, "max_streams": 4}, cameras=camera_tables)))
        central_toml = root / "central.toml"
        central_toml.write_text(tomli_w.dumps({
            "state_dir": str(root / "central"),
            "broker": {"host": broker.host, "port": broker.port, "ca": str(pki.ca_cert),
                       "cert": str(pki.cert(CENTRAL)), "key": str(pki.key(CENTRAL))},
            "live_view": {"agent_kbps": 20_000},
        } | (central or {})))
        operations.ensure_central(pki.dir, 1)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        agent_process = subprocess.Popen([sys.executable, "-m", "edge_agent.cli", "--config", str(agent_toml),
                                          "run"], env=env, stderr=subprocess.DEVNULL)
        relay_process = subprocess.Popen([sys.executable, "-m", "central.cli", "--config", str(central_toml),
                                          "live-relay"], env=env, stderr=subprocess.DEVNULL)
        try:
            socket_path = root / "central" / "live-view.sock"
            deadline = time.monotonic() + 30
            while not socket_path.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # the agent connected and subscribed to its commands
            yield LiveStack(root, agent, psutil.Process(agent_process.pid), psutil.Process(relay_process.pid),
                            central_toml, socket_path, fleet)
        finally:
            for process in (relay_process, agent_process):
                process.terminate()
                process.wait(30)
            broker.stop()


def run(seconds: float) -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="scc-bench-live-") as tmp, live_stack(Path(tmp), 4) as stack:
        return [
            _measure(stack.socket_path, stack.agent, ["cam0"], 1, seconds, stack.agent_process, stack.relay_process),
            _measure(stack.socket_path, stack.agent, ["cam0", "cam1", "cam2", "cam3"], 5, seconds,
                     stack.agent_process, stack.relay_process),
        ]


def report(results: list[dict[str, float]], seconds: float) -> str:
    lines = [
        "## Live view",
        "",
        f"`python -m benchmarks.bench_live_view` ({dt.date.today().isoformat()}, {os.cpu_count()} cores, "
        f"{seconds:g} s per row): simulator RTSP (640x360) -> agent (defaults: 640 px, quality 70, 5 fps; budgets "
        "in agent.toml and central.toml raised to 20 Mbit/s so the rate is the cap) -> TLS broker -> relay -> viewers on the relay's socket. "
        "Latency: frame stamped on the agent after encoding -> arrival at the viewer (docs/live-view.md).",
        "",
        "| cameras | viewers | latency p50 | p95 | fps per viewer | frame | agent CPU per stream | relay CPU per viewer |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(f"| {r['cameras']:.0f} | {r['viewers']:.0f} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | "
                     f"{r['fps']:.1f} | {r['kb']:.1f} kB | {r['agent_cpu_per_stream']:.1f}% | "
                     f"{r['relay_cpu_per_viewer']:.2f}% |")
    lines += ["", "CPU in % of one core. Not measured here: the camera-side delay before the agent decodes and "
              "the web's copy to the browser; both are in the glass-to-glass figures (bench_live_glass) below."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    results = run(args.seconds)
    text = report(results, args.seconds)
    print(text)
    if not args.no_write:
        write_section("live_view", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
