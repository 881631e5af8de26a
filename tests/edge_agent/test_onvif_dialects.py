"""The agent's checks against every ONVIF dialect the simulator speaks (real HTTP, SOAP, WS-Security).

Each dialect is a quirk real firmware has (simulator/onvif_dialects.py); none is a fault, so every
camera's ONVIF checks pass, and a quirk that takes one thing away (no snapshot URI) costs that thing only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from edge_agent.checks.base import CameraTarget
from edge_agent.scheduler import CameraChecker, CycleResult, close_resources, make_resources
from shared.messages import CheckOutcome, Outcome
from simulator.onvif_dialects import DIALECTS, MIXED
from simulator.testing import FleetClient, run_fleet_process
from tests.edge_agent.conftest import agent_config

pytestmark = pytest.mark.xdist_group("simulator")

NARROW = f"cam{len(DIALECTS) + 1:04d}"  # narrow WS-Security window on a clock two hours off
RESET = f"cam{len(DIALECTS) + 2:04d}"  # the time only with credentials, on a clock five hours behind (rebooted)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetClient]:
    scenario = tmp_path_factory.mktemp("dialects") / "scenario.toml"
    scenario.write_text(tomli_w.dumps({"cameras": {
        NARROW: {"dialect": "narrow_wsse_window", "faults": {"clock_wrong": 2}},
        RESET: {"dialect": "time_needs_auth", "faults": {"clock_wrong": -5}},
    }}))
    with run_fleet_process(len(DIALECTS) + 2, scenario_file=scenario,
                           extra_args=["--discovery-port", "0", "--no-rtsp", "--dialect", MIXED]) as client:
        yield client


def _cycle(fleet: FleetClient, tmp_path: Path) -> dict[str, dict[str, CheckOutcome]]:
    config = agent_config("agent-test", tmp_path, timeouts={"slow_warn_s": 30, "rtsp_probe_s": 1.0})

    async def main() -> dict[str, CycleResult]:
        resources = make_resources(config)
        checker = CameraChecker(config, resources)
        targets = [CameraTarget(camera_id=c.id, host=c.host, port=c.onvif_port, username=c.username,
                                password=c.password) for c in fleet.cameras]
        try:
            results = await asyncio.gather(*(checker.cycle(target) for target in targets))
        finally:
            await checker.close()
            await close_resources(resources)
        return {target.camera_id: result for target, result in zip(targets, results, strict=True)}

    return {cid: {o.check: o for o in result.outcomes} for cid, result in asyncio.run(main()).items()}


def test_every_dialect_passes_the_onvif_checks(fleet: FleetClient, tmp_path: Path) -> None:
    checks = _cycle(fleet, tmp_path)
    dialect_of = {c.id: c.dialect for c in fleet.cameras} | {NARROW: "narrow+skew", RESET: "auth-time+skew"}
    assert sorted(dialect_of.values()) == sorted([*DIALECTS, "narrow+skew", "auth-time+skew"])
    problems = []
    for camera_id, outcomes in checks.items():
        seen = {name: f"{o.outcome.value}:{o.reason} {o.details or ''}" for name, o in outcomes.items()}
        for name in ("onvif", "credentials"):
            if outcomes[name].outcome is not Outcome.OK:
                problems.append(f"{camera_id} ({dialect_of[camera_id]}): {name} {seen[name]}")
    assert not problems, "\n".join(problems)

    by_dialect = {dialect_of[cid]: outcomes for cid, outcomes in checks.items()}
    # A profile without Encoding or Resolution still gives the URIs; the snapshot is judged without a size.
    assert by_dialect["sparse_encoder"]["snapshot"].outcome is Outcome.OK
    # No snapshot URI, or an RTSP one: that call's finding; the profile and the rest stay.
    for dialect, failure in (("no_snapshot_uri", "onvif_error"), ("snapshot_uri_rtsp", "onvif_malformed")):
        outcomes = by_dialect[dialect]
        assert outcomes["credentials"].details["GetSnapshotUri"] == failure, dialect
        assert outcomes["credentials"].details["profile"] == "Profile_1", dialect
        assert outcomes["snapshot"].reason == "snapshot_unavailable", dialect
    # No GetSystemDateAndTime at all: the credentials are still tried (signed with the agent's clock).
    assert by_dialect["no_system_time"]["onvif"].details["time"] == "unsupported"
    assert by_dialect["no_system_time"]["clock"].outcome is Outcome.SKIPPED
    # Snapshots on another port than ONVIF: fetched there.
    other_port = next(c for c in fleet.cameras if c.dialect == "snapshot_other_port")
    assert f":{other_port.onvif_port}/" not in other_port.snapshot_url
    assert by_dialect["snapshot_other_port"]["snapshot"].outcome is Outcome.OK
    # Local time and a zone instead of UTC: the offset is still known.
    assert by_dialect["local_time_only"]["clock"].outcome is Outcome.OK
    # Two hours off with a 5 s window: signed with the camera's clock, so accepted, and reported.
    narrow = by_dialect["narrow+skew"]
    assert (narrow["clock"].reason, narrow["clock"].details["offset_h"]) == ("clock_skew", 2.0)
    # The time refused unsigned and the signature refused for the clock: signed with the HTTP Date's clock.
    reset = by_dialect["auth-time+skew"]
    assert (reset["clock"].reason, reset["clock"].details["offset_h"]) == ("clock_skew", 5.0)
    for dialect in DIALECTS:
        if dialect not in ("no_snapshot_uri", "snapshot_uri_rtsp"):
            assert by_dialect[dialect]["snapshot"].outcome is Outcome.OK, (dialect, by_dialect[dialect]["snapshot"])
