"""Fixtures shared by central's test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.testing import FleetClient, run_fleet_process


@pytest.fixture(scope="module")
def live_fleet() -> Iterator[FleetClient]:
    """One simulated camera for the live-view tests (tests/fixtures/live_view.py), in its own process:
    the agent decodes RTSP with OpenCV, which would stall an in-process simulator's frame pump."""
    with run_fleet_process(1, extra_args=["--discovery-port", "0"]) as client:
        yield client
