"""The stream decode finds a frozen picture within one decode (real simulator RTSP, real FFmpeg decode).

The snapshot rule compares consecutive checks, so a freeze shows there only at the second check after
it; the decode compares its own frames a second or more apart and shows it at the first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w

from edge_agent import imaging
from edge_agent.checks.base import CameraTarget
from edge_agent.checks.stream import _picture
from edge_agent.config import AgentConfig, ThresholdSection
from edge_agent.scheduler import CameraChecker, CycleResult, close_resources, make_resources
from shared.messages import CameraState, CheckOutcome, Outcome
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import agent_config
from tests.edge_agent.test_imaging import scene

pytestmark = pytest.mark.xdist_group("simulator")

LIMITS = ThresholdSection()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetClient]:
    # Its own process: OpenCV holds the GIL while it opens a stream, which would stall an in-process
    # simulator's frame pump. The third camera sends 3 frames a second: its probe still spans a second.
    scenario = tmp_path_factory.mktemp("stream") / "scenario.toml"
    scenario.write_text(tomli_w.dumps({"cameras": {"cam0003": {"faults": {"low_fps": 3}}}}))
    with run_fleet_process(3, extra_args=["--discovery-port", "0"], scenario_file=scenario) as client:
        yield client


def _config(tmp: Path) -> AgentConfig:
    # The probe's defaults but shorter; 1.6 s still spans FROZEN_WINDOW_S at 15 fps (and at 3 fps).
    return agent_config("agent-test", tmp, schedule={"rtsp_concurrency": 4},
                        timeouts={"rtsp_open_s": 4, "rtsp_read_s": 3, "rtsp_probe_s": 1.6, "slow_warn_s": 30})


def _target(fleet: FleetClient, camera_id: str) -> CameraTarget:
    camera = fleet.camera(camera_id)
    return CameraTarget(camera_id=camera.id, host=camera.host, port=camera.onvif_port, username=camera.username,
                        password=camera.password, name=camera.name)


def _checks(result: CycleResult) -> dict[str, CheckOutcome]:
    return {o.check: o for o in result.outcomes}


def test_a_freeze_shows_at_the_first_check_after_it_and_clears_when_the_picture_moves(
    fleet: FleetClient, tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    camera_id = "cam0001"

    async def main() -> list[CycleResult]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        target = _target(fleet, camera_id)
        try:
            results = [await checker.cycle(target, full=True)]
            await asyncio.to_thread(fleet.set_fault, camera_id, "frozen")
            try:
                results.append(await checker.cycle(target, full=True))
            finally:
                await asyncio.to_thread(fleet.clear, camera_id)
            # Scheduled checks (no decode): the decode's verdict stands until snapshots taken after it differ.
            results.append(await checker.cycle(target))
            results.append(await checker.cycle(target))
            results.append(await checker.cycle(target))
            assert checker.runtimes[camera_id].decoded_at == 0.0  # the rotation decodes it again first
        finally:
            await checker.close()
            await close_resources(resources)
        return results

    live, frozen, cleared, moved, later = asyncio.run(main())
    assert (live.decision.state, live.decision.reason) == (CameraState.OK, "ok"), _checks(live)
    stream = _checks(live)["stream"]
    assert stream.details["change"] is not None and stream.details["window_s"] >= imaging.FROZEN_WINDOW_S  # type: ignore[operator]

    checks = _checks(frozen)
    assert (frozen.decision.state, frozen.decision.reason) == (CameraState.DEGRADED, "frozen"), checks
    assert (checks["stream"].outcome, checks["stream"].reason) == (Outcome.FAIL, "frozen")
    assert checks["stream"].details["change"] == 0.0
    assert checks["stream"].details["window_s"] >= imaging.FROZEN_WINDOW_S  # type: ignore[operator]
    assert "of its stream" in checks["stream"].message
    # The snapshots alone could not tell yet: this check's differs from the live one before the freeze.
    assert checks["image"].reason == "ok", checks["image"]

    # The snapshot taken in the frozen check came before its decode: no evidence against it yet.
    assert _checks(cleared)["stream"].reason == "frozen"
    assert (moved.decision.state, moved.decision.reason) == (CameraState.OK, "ok"), _checks(moved)
    assert _checks(moved)["stream"].outcome is Outcome.SKIPPED
    assert _checks(later)["stream"].outcome is Outcome.SKIPPED  # not frozen again, waiting for its decode


def test_live_streams_are_never_frozen_over_several_decodes(fleet: FleetClient, tmp_path: Path) -> None:
    config = _config(tmp_path)
    ids = ("cam0002", "cam0003")

    async def main() -> dict[str, list[CycleResult]]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        results: dict[str, list[CycleResult]] = {cid: [] for cid in ids}

        async def camera(cid: str) -> None:
            for _ in range(4):
                results[cid].append(await checker.cycle(_target(fleet, cid), full=True))

        try:
            await asyncio.gather(*(camera(cid) for cid in ids))
        finally:
            await checker.close()
            await close_resources(resources)
        return results

    results = asyncio.run(main())
    for camera_id, cycles in results.items():
        for result in cycles:
            checks = _checks(result)
            stream = checks["stream"]
            assert stream.reason != "frozen" and checks["image"].reason != "frozen", (camera_id, checks)
            # Judged, not skipped for a short window: the comparison really ran.
            assert stream.details["change"] is not None, (camera_id, stream)
    assert {_checks(r)["stream"].reason for r in results["cam0003"]} == {"low_fps"}


def test_the_probes_comparison_keeps_the_motion_veto_and_needs_a_second() -> None:
    still = scene(1280, 720, seed=3)
    first = imaging.signature(imaging.analysis_gray(still))
    stats, window, change, motion = _picture(first, still, 1.5)
    assert (window, change, motion) == (1.5, 0.0, False)
    assert stats is not None and imaging.judge(stats, change, LIMITS).reason == "frozen"  # type: ignore[union-attr]
    # One person walking into a corner: the picture as a whole barely changes, but it is live.
    person = still.copy()
    cv2.rectangle(person, (40, 560), (90, 700), (20, 20, 220), -1)
    stats, _window, change, motion = _picture(first, person, 1.5)
    assert change is not None and change <= LIMITS.frozen_diff and motion
    assert stats is not None and imaging.judge(stats, change, LIMITS, motion=motion) is None
    # Frames less than FROZEN_WINDOW_S apart are not compared: the camera's clock may not have ticked.
    stats, _window, change, motion = _picture(first, still, imaging.FROZEN_WINDOW_S - 0.1)
    assert change is None and stats is not None and imaging.judge(stats, change, LIMITS) is None
    assert _picture(None, None, 0.0) == (None, 0.0, None, False)
    assert np.array_equal(first, imaging.signature(imaging.analysis_gray(still)))
