"""The soak's chaos schedule: replayable from its seed, and fair to what it measures."""

from __future__ import annotations

import itertools

import pytest

from benchmarks.soak.chaos import (
    AGENT_LOCAL,
    CAMERA_FAULTS,
    INFRASTRUCTURE,
    SCREEN_MARGIN_S,
    UPHEAVALS,
    Incident,
    Kind,
    applicable,
    default_pacing,
    plan,
)

CAMERAS = {f"agent-{a}": [f"cam-{a}-{c}" for c in range(20)] for a in range(17)}


def _schedule(seed: int = 7, duration_s: float = 3600) -> list[Incident]:
    return plan(seed, duration_s, CAMERAS, default_pacing(20, duration_s))


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    assert _schedule(7) == _schedule(7)
    assert _schedule(7) != _schedule(8)


def test_a_long_run_has_every_kind_of_infrastructure_fault_and_many_camera_faults() -> None:
    schedule = _schedule()
    kinds = {incident.kind for incident in schedule}
    assert set(INFRASTRUCTURE) <= kinds
    camera = [i for i in schedule if i.kind is Kind.CAMERA]
    assert len(camera) > 20
    assert {i.fault for i in camera} == set(CAMERA_FAULTS)


@pytest.mark.parametrize("seed", range(5))
def test_infrastructure_faults_never_overlap_and_camera_faults_avoid_them(seed: int) -> None:
    pacing = default_pacing(20, 3600)
    schedule = plan(seed, 3600, CAMERAS, pacing)
    infra = [i for i in schedule if i.kind is not Kind.CAMERA]
    for before, after in itertools.pairwise(infra):
        assert after.at_s >= before.ends_s + pacing.settle_s
    agent_of = {camera: agent for agent, cameras in CAMERAS.items() for camera in cameras}
    for fault in (i for i in schedule if i.kind is Kind.CAMERA):
        for outage in infra:
            if outage.kind in AGENT_LOCAL and outage.target != agent_of[fault.target]:
                continue  # another agent's link cut or restart does not reach this camera
            # Begun (or recovered) at least the goal's time (interval + 5 s) before an outage, so it can be
            # on screen before it: seed 23's freeze 20 s before a broker crash took 76.7 s.
            before = pacing.interval_s + SCREEN_MARGIN_S
            for moment in (fault.at_s, fault.ends_s):
                assert not outage.at_s - before <= moment <= outage.ends_s + pacing.settle_s


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("postgres", [False, True])
def test_a_30_minute_run_holds_every_kind_once_and_camera_faults_between(seed: int, postgres: bool) -> None:
    kinds, _ = applicable(INFRASTRUCTURE, postgres)
    schedule = plan(seed, 1800, CAMERAS, default_pacing(20, 1800), kinds)
    infra = [i.kind for i in schedule if i.kind is not Kind.CAMERA]
    assert sorted(infra) == sorted(kinds)
    assert sum(i.kind is Kind.CAMERA for i in schedule) >= 3


def test_a_run_too_short_for_every_kind_keeps_those_that_fit_without_overlap() -> None:
    pacing = default_pacing(20, 600)
    schedule = plan(7, 600, CAMERAS, pacing)
    infra = [i for i in schedule if i.kind is not Kind.CAMERA]
    assert 1 <= len(infra) < len(INFRASTRUCTURE)
    assert len({i.kind for i in infra}) == len(infra)
    for before, after in itertools.pairwise(infra):
        assert after.at_s >= before.ends_s + pacing.settle_s
    assert all(i.ends_s <= 600 - pacing.quiet_tail_s for i in schedule)


@pytest.mark.parametrize("seed", range(5))
def test_no_camera_is_faulted_twice_at_once_and_all_ends_before_the_quiet_tail(seed: int) -> None:
    pacing = default_pacing(20, 3600)
    schedule = plan(seed, 3600, CAMERAS, pacing)
    assert all(i.at_s >= pacing.warmup_s for i in schedule)
    assert all(i.ends_s <= 3600 - pacing.quiet_tail_s for i in schedule)
    by_camera: dict[str, list[Incident]] = {}
    for incident in (i for i in schedule if i.kind is Kind.CAMERA):
        by_camera.setdefault(incident.target, []).append(incident)
    for faults in by_camera.values():
        for before, after in itertools.pairwise(faults):
            assert after.at_s > before.ends_s


def test_agent_incidents_name_an_agent_and_others_none() -> None:
    for incident in _schedule():
        if incident.kind in (Kind.LINK_CUT, Kind.AGENT_RESTART):
            assert incident.target in CAMERAS
        elif incident.kind is not Kind.CAMERA:
            assert incident.target == ""


def test_central_disk_full_is_in_the_long_run_for_as_long_as_the_ingest_backs_off() -> None:
    pacing = default_pacing(20, 3600)
    full = [i for i in _schedule() if i.kind is Kind.DISK_FULL]
    assert len(full) == 1 and full[0].target == ""
    assert pacing.disk_full_s[0] <= full[0].lasts_s <= pacing.disk_full_s[1]
    assert pacing.disk_full_s[0] >= 60  # past the ingest's longest retry wait (30 s), twice


def test_disk_full_is_left_out_on_postgresql_with_its_reason_and_kept_on_sqlite() -> None:
    kinds, left_out = applicable(INFRASTRUCTURE, postgres=True)
    assert Kind.DISK_FULL not in kinds and set(kinds) == set(INFRASTRUCTURE) - {Kind.DISK_FULL}
    assert "PostgreSQL" in left_out[Kind.DISK_FULL]
    assert applicable(INFRASTRUCTURE, postgres=False) == (INFRASTRUCTURE, {})
    schedule = plan(7, 3600, CAMERAS, default_pacing(20, 3600), kinds)
    assert Kind.DISK_FULL not in {i.kind for i in schedule}


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("postgres", [False, True])
def test_upheavals_come_before_the_ingest_kill_and_keep_out_of_the_judged_end(seed: int, postgres: bool) -> None:
    # The ingest's memory is judged after its restart: a broker crash's backlog after it would be a
    # step (its largest batch's high-water mark) in that stretch, read as growth.
    kinds, _ = applicable(INFRASTRUCTURE, postgres)
    for duration_s in (3600.0, 4 * 3600.0):
        pacing = default_pacing(20, duration_s)
        schedule = plan(seed, duration_s, CAMERAS, pacing, kinds)
        infra = [i for i in schedule if i.kind is not Kind.CAMERA]
        first_kill = next(i for i in infra if i.kind is Kind.INGEST_KILL)
        first_round = infra[: len(kinds)]
        assert {i.kind for i in first_round} == set(kinds)
        assert all(i.kind in UPHEAVALS for i in first_round if i.at_s < first_kill.at_s)
        assert all(i.kind not in UPHEAVALS for i in first_round if i.at_s > first_kill.at_s)
        judged_from = duration_s - pacing.quiet_tail_s - pacing.memory_judged_s
        late = [i for i in infra[len(kinds):] if i.ends_s > judged_from]
        assert all(i.kind not in UPHEAVALS and i.kind is not Kind.INGEST_KILL for i in late)
    assert len(infra) > 2 * len(kinds)  # four hours hold later rounds, upheavals among them
    assert any(i.kind in UPHEAVALS for i in infra[len(kinds):])
