"""The ONVIF checks over a whole cycle against canned devices: what answers is never offline; https and paths."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.checks.base import CameraTarget
from edge_agent.scheduler import CameraChecker, CycleResult, close_resources, make_resources
from shared.messages import CameraState
from simulator.websites_tls import SimulatorCA
from tests.edge_agent.conftest import agent_config
from tests.edge_agent.onvif_device import CannedDevice, Reply, serving


@pytest.fixture(scope="module")
def camera_tls() -> Iterator[ssl.SSLContext]:
    ca = SimulatorCA()
    now = dt.datetime.now(dt.UTC)
    context, _ = ca.server_context("camera", ["127.0.0.1"], not_before=now - dt.timedelta(days=1),
                                   not_after=now + dt.timedelta(days=1), self_signed=True)
    yield context
    ca.close()


def cycles(device: CannedDevice, tmp_path: Path, count: int, *, tls: ssl.SSLContext | None = None,
           path: str = "/onvif/device_service") -> list[CycleResult]:
    config = agent_config("agent-test", tmp_path, schedule={"offline_after": 2},
                          timeouts={"connect_s": 1, "onvif_s": 2, "snapshot_s": 2, "rtsp_open_s": 1,
                                    "rtsp_probe_s": 1, "slow_warn_s": 30})

    async def main() -> list[CycleResult]:
        async with serving(device, tls=tls) as served:
            scheme = "https" if tls else "http"
            target = CameraTarget(camera_id="cam-1", host="127.0.0.1", port=served.port, username="admin",
                                  password="pw", onvif_url=f"{scheme}://127.0.0.1:{served.port}{path}")
            resources = make_resources(config)
            checker = CameraChecker(config, resources)
            try:
                return [await checker.cycle(target) for _ in range(count)]
            finally:
                await checker.close()
                await close_resources(resources)

    return asyncio.run(main())


def test_a_camera_answering_empty_200s_is_never_offline(tmp_path: Path) -> None:
    """Issue 13's second outside camera: HTTP 200 with nothing in it on every call, RTSP refused."""
    device = CannedDevice(replies={"*": Reply(b"", 200, "text/plain")})
    results = cycles(device, tmp_path, 3)
    for result in results:
        checks = {o.check: o.reason for o in result.outcomes}
        assert checks["onvif"] == "onvif_malformed", checks
        assert result.decision.state is CameraState.DEGRADED, (result.decision, checks)


def test_https_device_service_at_its_own_path(tmp_path: Path, camera_tls: ssl.SSLContext) -> None:
    device = CannedDevice(path_prefix="/cgi-bin/onvif/")
    [result] = cycles(device, tmp_path, 1, tls=camera_tls, path="/cgi-bin/onvif/device_service")
    checks = {o.check: o for o in result.outcomes}
    assert (checks["reachable"].reason, checks["reachable"].details["http_status"]) == ("ok", 405)
    assert checks["onvif"].reason == "ok" and checks["credentials"].reason == "ok", checks
    assert checks["credentials"].details.get("profile") == "main", checks["credentials"].details
