"""Fault names, values and scenario parsing: what users type must be understood or clearly refused."""

from __future__ import annotations

import pytest

from simulator.faults import Fault, FaultError, FaultSet, parse_assignment, parse_fault_name
from simulator.identity import make_identity
from simulator.scenario import ScenarioError, build_camera_configs


def test_names_aliases_and_defaults() -> None:
    assert parse_fault_name("Wrong-Credentials") is Fault.WRONG_CREDENTIALS
    assert parse_fault_name("tampered") is Fault.COVERED
    assert parse_assignment("slow=2.5") == (Fault.SLOW, 2.5)
    assert parse_assignment("clock_wrong") == (Fault.CLOCK_WRONG, 6.0)
    assert parse_assignment("wrong_resolution=800x600") == (Fault.WRONG_RESOLUTION, "800x600")


@pytest.mark.parametrize("text", ["melted", "slow=soon", "black=3", "wrong_resolution=big", "low_fps=0",
                                  "wrong_resolution=641x480"])
def test_bad_faults_are_refused(text: str) -> None:
    with pytest.raises(FaultError):
        parse_assignment(text)


def test_fault_tables_and_lists() -> None:
    assert FaultSet.from_spec({"black": True, "slow": 1, "dark": False}).as_json() == {"black": True, "slow": 1.0}
    assert FaultSet.from_spec(["frozen", "low_fps=5"]).as_json() == {"frozen": True, "low_fps": 5.0}


def test_identities_are_stable_and_distinct() -> None:
    assert make_identity(5, seed=1) == make_identity(5, seed=1)
    identities = [make_identity(index) for index in range(1, 1001)]
    for field in ("serial", "mac", "endpoint_uuid", "name"):
        assert len({getattr(identity, field) for identity in identities}) == 1000, field
    assert all(identity.mac.startswith("02:") for identity in identities), "locally administered MACs"


def test_scenario_errors_name_the_table() -> None:
    with pytest.raises(ScenarioError, match=r"\[cameras.cam0001\].*colour"):
        build_camera_configs(1, {"cameras": {"cam0001": {"colour": "red"}}})
    with pytest.raises(ScenarioError, match="beyond"):
        build_camera_configs(1, {"cameras": {"cam0009": {"faults": ["black"]}}})
    with pytest.raises(ScenarioError, match="resolution"):
        build_camera_configs(1, {"defaults": {"resolution": "huge"}})
