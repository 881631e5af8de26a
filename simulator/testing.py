"""Start a simulated fleet from tests: in-process on a background thread, or as an ``scc-sim`` subprocess.

    from simulator.testing import start_fleet, run_fleet_process

    with start_fleet(3, faults={"cam0002": ["black"], "cam0003": {"clock_wrong": 5}}) as fleet:
        camera = fleet.cameras[0]            # CameraDescriptor: host, onvif_port, username, password,
        ONVIFCamera(camera.host, camera.onvif_port, camera.username, camera.password)   # rtsp_url, ...
        fleet.set_fault("cam0001", "slow", 2)
        fleet.clear("cam0001")

Every camera gets its own loopback address (127.20.0.N) on one shared port, so ``host:port`` plus the standard
``/onvif/device_service`` path reaches exactly that camera, like a real one. ``run_fleet_process`` takes the same
descriptors from ``scc-sim --json`` and is the better choice when the test itself decodes RTSP with OpenCV
(OpenCV holds the GIL while opening a stream, which stalls an in-process simulator's frame pump).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from simulator.descriptors import CameraDescriptor, FleetDescriptor
from simulator.discovery import DISCOVERY_PORT

FaultSpec = Mapping[str, Any] | Sequence[str]


class FleetClient:
    """Controls a running fleet (in-process or not) through its control API."""

    def __init__(self, descriptor: FleetDescriptor) -> None:
        self.descriptor = descriptor

    @property
    def cameras(self) -> list[CameraDescriptor]:
        return self.descriptor.cameras

    def camera(self, camera_id: str) -> CameraDescriptor:
        return self.descriptor.camera(camera_id)

    def _call(self, method: str, path: str, payload: object | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.descriptor.control_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def set_fault(self, camera_id: str, fault: str, value: object = True) -> CameraDescriptor:
        """Inject ``fault`` (with ``value`` for slow, clock_wrong, low_fps, ...) on one camera."""
        return CameraDescriptor.from_json(self._call("POST", f"/cameras/{camera_id}/faults",
                                                     {"fault": fault, "value": value}))

    def clear(self, camera_id: str, fault: str | None = None) -> CameraDescriptor:
        """Remove one fault, or every fault when ``fault`` is None."""
        suffix = f"/{fault}" if fault else ""
        return CameraDescriptor.from_json(self._call("DELETE", f"/cameras/{camera_id}/faults{suffix}"))

    def refresh(self) -> FleetDescriptor:
        self.descriptor = FleetDescriptor.from_json(self._call("GET", "/cameras"))
        return self.descriptor


def _scenario_with_faults(scenario: Mapping[str, Any] | None, faults: Mapping[str, FaultSpec] | None) -> dict[str, Any]:
    merged: dict[str, Any] = {key: value for key, value in (scenario or {}).items()}
    cameras = {key: dict(value) for key, value in merged.get("cameras", {}).items()}
    for camera_id, spec in (faults or {}).items():
        cameras.setdefault(camera_id, {})["faults"] = spec
    merged["cameras"] = cameras
    return merged


@contextlib.contextmanager
def start_fleet(
    cameras: int = 1,
    *,
    faults: Mapping[str, FaultSpec] | None = None,
    scenario: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    discovery_port: int = 0,
    rtsp: bool = True,
    per_camera_addresses: bool = True,
) -> Iterator[FleetClient]:
    """Run ``cameras`` simulated cameras in this process (own event loop thread) on free ports.

    ``faults`` maps camera ids to fault specs, e.g. ``{"cam0002": ["black"], "cam0003": {"slow": 1}}``.
    ``discovery_port=0`` answers unicast probes on a free port; pass 3702 for multicast (needs a real LAN
    or a network namespace, see simulator.netns).
    """
    from simulator.fleet import Fleet, FleetOptions

    options = FleetOptions(
        cameras=cameras, host=host, discovery_port=discovery_port, multicast=discovery_port == DISCOVERY_PORT,
        rtsp=rtsp, per_camera_addresses=per_camera_addresses, scenario=_scenario_with_faults(scenario, faults),
    )
    fleet = Fleet(options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="scc-sim-loop", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(fleet.start(), loop).result(timeout=60)
        yield FleetClient(fleet.describe())
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(fleet.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def sim_command(cameras: int, *extra: str) -> list[str]:
    """The argv that runs ``scc-sim`` with JSON output on free ports (use with netns.run_in_namespace too)."""
    return [sys.executable, "-m", "simulator", "--cameras", str(cameras), "--json",
            "--http-port", "0", "--rtsp-port", "0", "--control-port", "0", *extra]


@contextlib.contextmanager
def run_fleet_process(
    cameras: int = 1,
    *,
    extra_args: Sequence[str] = (),
    scenario_file: str | Path | None = None,
    command_prefix: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> Iterator[FleetClient]:
    """Run ``scc-sim`` as a subprocess and yield a client for it; SIGTERM (clean Bye) on exit.

    ``command_prefix`` wraps the command, e.g. ``["ip", "netns", "exec", "scc-cam1"]``.
    """
    argv = [*command_prefix, *sim_command(cameras, *extra_args)]
    if scenario_file is not None:
        argv += ["--scenario", str(scenario_file)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                       env.get("PYTHONPATH", "")]))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        descriptor = _read_descriptor(process, startup_timeout)
        yield FleetClient(descriptor)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _read_descriptor(process: subprocess.Popen[str], timeout: float) -> FleetDescriptor:
    """The first stdout line is the JSON description; anything else means the simulator failed."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline() if process.stdout else ""))
    reader.start()
    reader.join(timeout)
    if not result or not result[0].strip():
        process.kill()
        _, stderr = process.communicate(timeout=10)
        raise RuntimeError(f"scc-sim did not start: {stderr[-4000:]}")
    return FleetDescriptor.from_json(json.loads(result[0]))
