"""The suite's own xdist scheduling (tests/scheduling.py): groups as xdist names them, the soak first."""

from __future__ import annotations

import pytest

from tests.benchmarks.soak import test_soak_run
from tests.scheduling import group_of, is_long


def test_the_short_soak_goes_out_first() -> None:
    marks = test_soak_run.pytestmark
    groups = [m.args[0] for m in marks if m.name == "xdist_group"]
    assert groups == ["soak"]
    assert is_long("soak")
    assert not is_long("tests/benchmarks/soak/test_soak_run.py::test_the_schedule_holds_each_fault_kind_and_camera_faults")


@pytest.mark.xdist_group("broker")
@pytest.mark.xdist_group(name="browser")
def test_a_test_in_two_groups_is_in_their_joint_group(request: pytest.FixtureRequest) -> None:
    assert group_of(request.node) == "broker_browser"


def test_a_test_in_no_group_has_none(request: pytest.FixtureRequest) -> None:
    assert group_of(request.node) is None
