"""The second look against the real simulator: a freeze at the first check after it, live cameras never frozen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.checks import second_look
from edge_agent.checks.base import CameraTarget, CheckContext
from edge_agent.checks.second_look import Trust, verdict
from edge_agent.checks.snapshot import Analysed
from edge_agent.config import AgentConfig
from edge_agent.scheduler import CameraChecker, CycleResult, close_resources, make_resources
from shared.messages import CameraState, CheckOutcome, Outcome
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import agent_config

pytestmark = pytest.mark.xdist_group("simulator")

LIVE = [f"cam{n:04d}" for n in range(1, 8)]
FREEZING = "cam0009"
CACHING = "cam0008"


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    with run_fleet_process(9, extra_args=["--discovery-port", "0"]) as client:
        yield client


def _config(tmp: Path) -> AgentConfig:
    # The default second look (2 s); the timeouts leave room for a loaded machine.
    return agent_config("agent-test", tmp, schedule={"concurrency": 16, "workers": 2},
                        timeouts={"connect_s": 2, "onvif_s": 8, "snapshot_s": 8, "slow_warn_s": 5})


def _target(fleet: FleetClient, camera_id: str) -> CameraTarget:
    camera = fleet.camera(camera_id)
    return CameraTarget(camera_id=camera.id, host=camera.host, port=camera.onvif_port, username=camera.username,
                        password=camera.password, name=camera.name)


def _image(result: CycleResult) -> CheckOutcome:
    return next(o for o in result.outcomes if o.check == "image")


def test_live_cameras_are_never_frozen_over_many_checks(fleet: FleetClient, tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config.schedule.second_look_s == 2.0

    async def main() -> dict[str, list[CycleResult]]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        results: dict[str, list[CycleResult]] = {cid: [] for cid in LIVE}

        async def camera(cid: str) -> None:
            for _ in range(6):
                results[cid].append(await checker.cycle(_target(fleet, cid)))
                # Checks seconds apart, as an agent's are: two snapshots tens of ms apart differ only by a
                # few pixels of the simulator's car, which the comparison across checks calls unchanged.
                await asyncio.sleep(1.0)

        try:
            await asyncio.gather(*(camera(cid) for cid in LIVE))
        finally:
            await checker.close()
            await close_resources(resources)
        return results

    results = asyncio.run(main())
    images = [_image(result) for runs in results.values() for result in runs]
    assert len(images) == 6 * len(LIVE)
    # Every check had its second look (nothing else was wrong with the picture), and none said frozen.
    bad = [(cid, n, o.reason, o.message, o.details) for cid, runs in results.items() for n, result in enumerate(runs)
           if (o := _image(result)).reason != "ok"]
    assert bad == []
    assert all(result.decision.state is CameraState.OK for runs in results.values() for result in runs)


def test_a_freeze_shows_at_the_first_check_after_it(fleet: FleetClient, tmp_path: Path) -> None:
    config = _config(tmp_path)

    async def main() -> list[CycleResult]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        target = _target(fleet, FREEZING)
        try:
            live = await checker.cycle(target)
            fleet.set_fault(FREEZING, "frozen")
            frozen = await checker.cycle(target)
            still_frozen = await checker.cycle(target)  # now across checks too
            fleet.clear(FREEZING)
            thawed = await checker.cycle(target)
            return [live, frozen, still_frozen, thawed]
        finally:
            fleet.clear(FREEZING)
            await checker.close()
            await close_resources(resources)

    live, frozen, still_frozen, thawed = asyncio.run(main())
    assert _image(live).outcome is Outcome.OK
    image = _image(frozen)
    # Found by the second look: this check's snapshot differs from the last live one.
    assert (image.outcome, image.reason) == (Outcome.FAIL, "frozen"), image
    assert image.details["change"] is not None and image.details["still_for_s"] >= 2.0  # type: ignore[operator]
    assert (frozen.decision.state, frozen.decision.reason) == (CameraState.DEGRADED, "frozen")
    again = _image(still_frozen)
    assert again.reason == "frozen" and again.details["change"] == 0.0 and "still_for_s" not in again.details
    assert _image(thawed).outcome is Outcome.OK and thawed.decision.state is CameraState.OK



def test_a_camera_serving_a_cached_snapshot_is_frozen_at_most_once_then_judged_across_checks_only(
    fleet: FleetClient, tmp_path: Path,
) -> None:
    # A live camera whose snapshot endpoint serves one picture for 3 s (some firmwares refresh it per
    # second or per keyframe): two looks 2 s apart often get the same bytes from a moving scene.
    config = _config(tmp_path)
    fleet.set_fault(CACHING, "snapshot_cached", 3)

    async def main() -> tuple[list[CycleResult], str]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        target = _target(fleet, CACHING)
        results = []
        try:
            for _ in range(7):
                results.append(await checker.cycle(target))
                await asyncio.sleep(3.5)  # past the cache, as a real interval is
            return results, checker.runtime(target).second_look_trust
        finally:
            fleet.clear(CACHING)
            await checker.close()
            await close_resources(resources)

    results, trust = asyncio.run(main())
    reasons = [_image(result).reason for result in results]
    assert reasons.count("frozen") <= 1, reasons
    if "frozen" in reasons:  # the one check before the cache was known; never again after it
        assert trust == Trust.CACHED and reasons.index("frozen") < len(reasons) - 1
    assert all(reason == "ok" for reason in reasons[reasons.index("frozen") + 1 if "frozen" in reasons else 0:])


@pytest.mark.parametrize(("same", "trust", "froze_last", "expected"), [
    (False, Trust.UNPROVEN, False, (False, Trust.TRUSTED)),  # the snapshot changes within the wait
    (False, Trust.TRUSTED, True, (False, Trust.TRUSTED)),
    (True, Trust.UNPROVEN, False, (False, Trust.UNPROVEN)),  # maybe cached: not evidence yet
    (True, Trust.TRUSTED, False, (True, Trust.TRUSTED)),  # a freeze
    (True, Trust.TRUSTED, True, (False, Trust.CACHED)),  # moved across checks, still within seconds, twice
    (True, Trust.CACHED, False, (False, Trust.CACHED)),
])
def test_the_second_look_s_verdict_table(same: bool, trust: Trust, froze_last: bool,
                                         expected: tuple[bool, Trust]) -> None:
    assert verdict(same, trust, froze_last) == expected


def test_no_camera_holds_its_picture_through_the_wait(
    fleet: FleetClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thumbnail is made (or found not due) before the wait, and the picture let go: at 1,000 cameras
    every waiting camera's picture at once was the agent's largest memory (docs/performance.md)."""
    config = _config(tmp_path)
    held: list[Analysed | None] = []
    look_again = second_look.look_again

    async def looking(ctx: CheckContext, first_at: float) -> CheckOutcome | None:
        held.append(ctx.artifacts.snapshot)  # what the camera held through the wait
        return await look_again(ctx, first_at)

    monkeypatch.setattr(second_look, "look_again", looking)

    async def main() -> list[CycleResult]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        try:
            return [await checker.cycle(_target(fleet, LIVE[0]), thumbnail=forced) for forced in (True, False)]
        finally:
            await checker.close()
            await close_resources(resources)

    results = asyncio.run(main())
    assert len(held) == 2 and all(s is not None and s.frame is None and s.gray is not None and s.jpeg for s in held)
    assert results[0].thumbnail is not None
    jpeg, width, height = results[0].thumbnail
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (height, width) == (180, 320)
    assert all(_image(result).reason == "ok" for result in results)
