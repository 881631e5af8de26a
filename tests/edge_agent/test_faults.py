"""Every simulator fault yields the expected camera status and reason code (real ONVIF, HTTP, RTSP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from edge_agent.checks.base import CameraTarget
from edge_agent.config import AgentConfig
from edge_agent.decodes import DecodeRotation
from edge_agent.scheduler import CameraChecker, CycleResult, close_resources, make_resources
from shared.codec import decode, encode
from shared.messages import CameraState, CameraStatus, Outcome
from shared.reasons import CAMERA as REASONS
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import agent_config

pytestmark = pytest.mark.xdist_group("simulator")

# camera -> (fault spec, expected status, expected reason, cycles to run)
EXPECTED: dict[str, tuple[object, CameraState, str, int]] = {
    "cam0001": ([], CameraState.OK, "ok", 1),
    "cam0002": (["offline"], CameraState.OFFLINE, "unreachable", 2),
    "cam0003": (["onvif_dead"], CameraState.DEGRADED, "onvif_no_answer", 2),
    "cam0004": (["wrong_credentials"], CameraState.DEGRADED, "auth_failed", 1),
    "cam0005": (["rtsp_dead"], CameraState.DEGRADED, "rtsp_unavailable", 1),
    "cam0006": (["snapshot_dead"], CameraState.DEGRADED, "snapshot_http_error", 1),
    "cam0007": (["black"], CameraState.DEGRADED, "black", 1),
    "cam0008": (["dark"], CameraState.DEGRADED, "dark", 1),
    # Three cycles: one snapshot lost to a loaded machine must not leave no previous frame to compare.
    "cam0009": (["frozen"], CameraState.DEGRADED, "frozen", 3),
    "cam0010": (["blurred"], CameraState.DEGRADED, "blurred", 1),
    "cam0011": (["covered"], CameraState.DEGRADED, "covered", 1),
    "cam0012": ({"low_fps": 1}, CameraState.DEGRADED, "low_fps", 1),
    "cam0013": ({"wrong_resolution": "320x240"}, CameraState.DEGRADED, "resolution_mismatch", 1),
    "cam0014": ({"clock_wrong": 3}, CameraState.DEGRADED, "clock_skew", 1),
    "cam0015": ({"slow": 3.0}, CameraState.DEGRADED, "slow_response", 1),
    "cam0016": (["malformed_soap"], CameraState.DEGRADED, "onvif_malformed", 1),
    "cam0017": (["hostile_strings"], CameraState.OK, "ok", 1),
}


FAULTS: dict[str, Any] = {cid: spec for cid, (spec, *_rest) in EXPECTED.items()}


def _config(tmp: Path) -> AgentConfig:
    return agent_config(
        "agent-test", tmp,
        schedule={"offline_after": 2, "concurrency": 32, "workers": 2, "rtsp_concurrency": 8},
        timeouts={"connect_s": 1, "onvif_s": 5, "snapshot_s": 5, "rtsp_open_s": 4, "rtsp_read_s": 3,
                  "rtsp_probe_s": 1.6, "slow_warn_s": 2.5},
    )


def _target(fleet: FleetClient, camera_id: str) -> CameraTarget:
    camera = fleet.camera(camera_id)
    return CameraTarget(camera_id=camera.id, host=camera.host, port=camera.onvif_port, username=camera.username,
                        password=camera.password, name=camera.name)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetClient]:
    # Its own process: 17 cameras' RTSP decodes in this process hold the GIL (OpenCV) and would stall
    # an in-process simulator's frame pump and HTTP answers into false timeouts and slow answers.
    scenario = tmp_path_factory.mktemp("faults") / "scenario.toml"
    scenario.write_text(tomli_w.dumps({"cameras": {cid: {"faults": spec} for cid, spec in FAULTS.items()}}))
    with run_fleet_process(len(EXPECTED), extra_args=["--discovery-port", "0"], scenario_file=scenario) as client:
        yield client


def _run(config: AgentConfig, fleet: FleetClient, plan: dict[str, int],
         full: bool = True) -> dict[str, list[CycleResult]]:
    async def main() -> dict[str, list[CycleResult]]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        results: dict[str, list[CycleResult]] = {cid: [] for cid in plan}

        async def camera(cid: str, cycles: int) -> None:
            for _ in range(cycles):
                results[cid].append(await checker.cycle(_target(fleet, cid), full=full))

        try:
            await asyncio.gather(*(camera(cid, cycles) for cid, cycles in plan.items()))
        finally:
            await checker.close()
            await close_resources(resources)
        return results

    return asyncio.run(main())


def test_every_fault_gives_its_status_and_reason(fleet: FleetClient, tmp_path: Path) -> None:
    config = _config(tmp_path)
    results = _run(config, fleet, {cid: cycles for cid, (_s, _st, _r, cycles) in EXPECTED.items()})
    problems = []
    for camera_id, (spec, state, reason, _cycles) in EXPECTED.items():
        last = results[camera_id][-1]
        if (last.decision.state, last.decision.reason) != (state, reason):
            checks = {o.check: f"{o.outcome.value}:{o.reason} {o.details or ''}".strip() for o in last.outcomes}
            problems.append(f"{camera_id} {spec}: got {last.decision.state.value}/{last.decision.reason}, "
                            f"want {state.value}/{reason}; {checks}")
        assert reason in REASONS
        # Every report is valid on the wire, hostile strings included.
        status = last.status_builder("agent-test")(1, "0" * 32)
        decoded = decode(f"scc/v1/agents/agent-test/cameras/{camera_id}/status", encode(status))
        assert isinstance(decoded.message, CameraStatus), decoded  # type: ignore[union-attr]
    assert not problems, "\n".join(problems)
    # The clock check reports the offset, and the credentials still work thanks to it.
    clock = {o.check: o for o in results["cam0014"][-1].outcomes}
    assert clock["clock"].details["offset_h"] == 3.0
    assert clock["credentials"].outcome is Outcome.OK
    assert results["cam0001"][-1].thumbnail is not None


def test_one_slow_answer_never_makes_a_camera_offline(fleet: FleetClient, tmp_path: Path) -> None:
    config = _config(tmp_path)
    camera_id = "cam0001"
    fleet.set_fault(camera_id, "slow", config.timeouts.onvif_s + 1)  # beyond every timeout, once
    try:
        slow = _run(config, fleet, {camera_id: 1})[camera_id][-1]
    finally:
        fleet.clear(camera_id)
    assert slow.decision.state is CameraState.DEGRADED
    assert slow.decision.consecutive_failures <= 1
    # ...and a normal answer right after resets it.
    assert _run(config, fleet, {camera_id: 1})[camera_id][-1].decision.state is CameraState.OK


def test_a_slow_camera_is_slow_not_without_uris(fleet: FleetClient, tmp_path: Path) -> None:
    config = agent_config("agent-test", tmp_path,
                          timeouts={"connect_s": 1, "onvif_s": 1.5, "snapshot_s": 1.5, "slow_warn_s": 0.5,
                                    "rtsp_probe_s": 1.0})
    camera_id = "cam0001"
    fleet.set_fault(camera_id, "slow", 1.0)  # every answer 1 s: slow, but each one within onvif_s
    try:
        result = _run(config, fleet, {camera_id: 1})[camera_id][-1]
    finally:
        fleet.clear(camera_id)
    checks = {o.check: o.reason for o in result.outcomes}
    assert checks["snapshot"] != "snapshot_unavailable" and checks["rtsp"] != "rtsp_unavailable", checks
    assert (result.decision.state, result.decision.reason) == (CameraState.DEGRADED, "slow_response"), checks


def test_a_wrong_resolution_shows_before_any_decode(fleet: FleetClient, tmp_path: Path) -> None:
    # Decodes run on a slow rotation (minutes apart with 1,000 cameras): the snapshot, checked every
    # cycle, already tells that the picture is not the profile's size.
    config = _config(tmp_path)
    result = _run(config, fleet, {"cam0013": 1}, full=False)["cam0013"][-1]
    checks = {o.check: o for o in result.outcomes}
    assert (checks["snapshot"].outcome, checks["snapshot"].reason) == (Outcome.WARN, "resolution_mismatch")
    assert checks["snapshot"].details["actual"] == "320x240"
    assert checks["stream"].outcome is Outcome.SKIPPED
    assert (result.decision.state, result.decision.reason) == (CameraState.DEGRADED, "resolution_mismatch")


def test_decodes_run_on_their_own_rotation_and_feed_the_next_status(fleet: FleetClient, tmp_path: Path) -> None:
    config = agent_config("agent-test", tmp_path,
                          schedule={"concurrency": 1, "rtsp_concurrency": 1, "decode_every_s": 3600},
                          timeouts={"rtsp_probe_s": 1.0, "slow_warn_s": 30})
    ids = ("cam0001", "cam0012")  # healthy, low_fps

    async def main() -> tuple[dict[str, CycleResult], dict[str, CycleResult], bool, int]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        targets = {cid: _target(fleet, cid) for cid in ids}
        rotation = DecodeRotation(checker, lambda: targets)
        try:
            before = {cid: await checker.cycle(target) for cid, target in targets.items()}
            task = asyncio.create_task(rotation.run())
            async with asyncio.timeout(60):
                while not any(r.decoding for r in checker.runtimes.values()):
                    await asyncio.sleep(0.01)
                # A decode in progress holds a decode slot, never the (only) check slot.
                check_slot_free = not resources.check_slots.locked()
                while rotation.decoded < len(ids):
                    await asyncio.sleep(0.05)
            after = {cid: await checker.cycle(target) for cid, target in targets.items()}
            await asyncio.sleep(0.5)
            decoded = rotation.decoded  # decode_every_s 3600: nobody is decoded twice
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await checker.close()
            await close_resources(resources)
        return before, after, check_slot_free, decoded

    before, after, check_slot_free, decoded = asyncio.run(main())
    assert check_slot_free
    assert decoded == len(ids)
    for cid in ids:
        stream = {o.check: o for o in before[cid].outcomes}["stream"]
        assert stream.outcome is Outcome.SKIPPED, stream
    streams = {cid: {o.check: o for o in after[cid].outcomes}["stream"] for cid in ids}
    assert (streams["cam0001"].outcome, streams["cam0001"].reason) == (Outcome.OK, "ok"), streams
    assert streams["cam0012"].reason == "low_fps", streams
    assert isinstance(streams["cam0001"].details["decoded_s_ago"], int)
    assert (after["cam0012"].decision.state, after["cam0012"].decision.reason) == (CameraState.DEGRADED, "low_fps")
