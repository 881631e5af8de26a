"""Fleets shared by the simulator tests: one per module, on free ports, torn down after the module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from simulator.testing import FleetClient, start_fleet

# ffmpeg inside OpenCV must use interleaved TCP; UDP from a loopback RTSP server is needlessly flaky.
# The same options as the agent's (edge_agent/checks/stream.py): in one test process the first setter
# wins, and without the short stream analysis FFmpeg probes 5 s, past the agent tests' open timeout.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp|analyzeduration;500000|probesize;65536")

# One camera per behaviour, so a module can test them all against a single running fleet.
BEHAVIOUR_FAULTS: dict[str, object] = {
    "cam0002": ["wrong_credentials"],
    "cam0003": {"clock_wrong": 5},
    "cam0004": ["hostile_strings"],
    "cam0005": ["malformed_soap"],
    "cam0006": ["onvif_dead"],
    "cam0007": ["offline"],
    "cam0008": ["snapshot_dead"],
    "cam0010": {"slow": 1},
}
BEHAVIOUR_SCENARIO = {"cameras": {"cam0009": {"snapshot_auth": "basic", "username": "operator",
                                              "password": "s3cret kata/sandi"}}}


@pytest.fixture(scope="module")
def behaviour_fleet() -> Iterator[FleetClient]:
    """Ten cameras: cam0001 healthy, the others each with one non-image fault (see BEHAVIOUR_FAULTS)."""
    with start_fleet(10, faults=BEHAVIOUR_FAULTS, scenario=BEHAVIOUR_SCENARIO) as fleet:  # type: ignore[arg-type]
        yield fleet
