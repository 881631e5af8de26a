"""The suite's own xdist ordering: the soak must still be recognised as the unit to start first."""

from __future__ import annotations

from tests.benchmarks.soak import test_soak_run
from tests.scheduling import is_long


def test_the_short_soak_goes_out_first_grouped_or_not() -> None:
    soak = test_soak_run.test_a_short_soak_loses_nothing_through_a_broker_crash_an_ingest_kill_and_a_cut_link
    nodeid = f"tests/benchmarks/soak/test_soak_run.py::{soak.__name__}"
    assert is_long(nodeid)  # xdist's groups not applied (pytest 9.2): the test is its own unit
    assert is_long("soak")  # applied: the group is the unit
    assert not is_long("tests/benchmarks/soak/test_soak_run.py::test_the_schedule_holds_each_fault_kind_and_camera_faults")
