"""A short soak in the suite: four regencies' agents against one central through a broker crash, an
ingest kill -9 and a cut link, with camera faults between them. Nothing may be lost or doubled, every
camera fault must reach the screen, and every outbox must drain; latency and memory goals are the long
benchmark's (`python -m benchmarks.soak`), not this test's."""

from __future__ import annotations

import pytest

from benchmarks.soak.chaos import Kind, Pacing, plan
from benchmarks.soak.run import SoakOptions, run_soak
from benchmarks.soak.stack import World

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("soak"), pytest.mark.timeout(900)]

KINDS = (Kind.BROKER_KILL, Kind.INGEST_KILL, Kind.LINK_CUT)
PACING = Pacing(interval_s=5, warmup_s=10, quiet_tail_s=25, settle_s=10, link_cut_s=(15, 20), outage_s=(5, 8),
                camera_fault_s=(10, 15), camera_faults_per_interval=0.5)  # fmt: skip
# 140 s is about the shortest run whose schedule still holds all three kinds; this seed's also holds several
# camera faults (seed 4 over 180 s held one). The schedule depends only on the seed, the pacing and how
# many agents and cameras there are, which the test below checks with the soak's own world.
SEED = 23
DURATION_S = 140
REGENCIES = 4
CAMERAS_PER_AGENT = 2


def test_the_schedule_holds_each_fault_kind_and_camera_faults() -> None:
    cameras = {f"agent-{a}": [f"cam-{a}-{c}" for c in range(CAMERAS_PER_AGENT)] for a in range(REGENCIES)}
    schedule = plan(SEED, DURATION_S, cameras, PACING, KINDS)
    kinds = [incident.kind for incident in schedule]
    assert set(KINDS) <= set(kinds)
    assert kinds.count(Kind.CAMERA) >= 2


def test_a_short_soak_loses_nothing_through_a_broker_crash_an_ingest_kill_and_a_cut_link() -> None:
    # Its own temporary directory, not tmp_path: pytest's is 0700 and Mosquitto reads the PKI as its own user.
    world = World(regencies=REGENCIES, cameras_per_agent=CAMERAS_PER_AGENT, websites_per_agent=1, interval_s=PACING.interval_s)
    result = run_soak(SoakOptions(duration_s=DURATION_S, seed=SEED, world=world, kinds=KINDS, pacing=PACING),
                      say=lambda _: None)  # fmt: skip
    figures = result.figures
    assert figures["published"] > 0
    assert figures["lost"] == 0, figures["lost_examples"]
    assert figures["doubled"] == 0
    assert figures["drained"]
    assert figures["incident_errors"] == []
    assert figures["never_on_screen"] == []
    assert figures["failure_to_screen_s"], "no camera fault was measured"
    assert figures["outbox_peak_during_cuts"], "the cut agent's outbox was never seen holding reports"
    assert [kind for kind in ("lost", "stored twice", "drained", "died") if any(kind in p for p in result.problems)] == []
