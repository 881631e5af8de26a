"""The pure evaluator: thresholds, hysteresis, flapping, grouping, silences, inhibition, restarts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from central.alerts.evaluator import evaluate
from central.alerts.model import (
    ActiveAlert,
    Observation,
    Rule,
    Silence,
    SubjectKind,
    Thresholds,
    Transition,
    TransitionKind,
)
from tests.central.alerts.world import GROUPING, T0, World, minutes

HALF_MINUTE = minutes(0.5)


def run(
    world: World,
    start: datetime,
    end: datetime,
    step: timedelta = HALF_MINUTE,
    silences: Sequence[Silence] = (),
) -> tuple[dict[str, ActiveAlert], list[Transition]]:
    """Evaluate every ``step`` from start to end; return the final state and every transition."""
    active: dict[str, ActiveAlert] = {}
    transitions: list[Transition] = []
    now = start
    while now <= end:
        evaluation = evaluate(active, world.observations(now), silences, now, GROUPING)
        active = evaluation.active
        transitions.extend(evaluation.transitions)
        now += step
    return active, transitions


def kinds(transitions: list[Transition], kind: TransitionKind) -> list[Transition]:
    return [t for t in transitions if t.kind == kind]


def test_camera_offline_fires_once_after_threshold_and_recovers_once() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    world.add_camera("agent-a/cam-2")
    world.set("agent-a/cam-1", T0 + minutes(1), "offline")
    world.set("agent-a/cam-1", T0 + minutes(40), "ok")

    active, transitions = run(world, T0, T0 + minutes(10.5))
    assert kinds(transitions, TransitionKind.NOTIFY_FIRING) == []
    active, transitions = run(world, T0, T0 + minutes(11))
    [fired] = kinds(transitions, TransitionKind.NOTIFY_FIRING)
    assert fired.at == T0 + minutes(11)
    assert fired.alert.started_at == T0 + minutes(1)

    active, transitions = run(world, T0, T0 + minutes(90))
    assert len(kinds(transitions, TransitionKind.NOTIFY_FIRING)) == 1
    [recovered] = kinds(transitions, TransitionKind.NOTIFY_RESOLVED)
    assert recovered.at == T0 + minutes(45)
    assert active == {}


def test_flapping_camera_never_fires() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    for n in range(40):  # offline 6 minutes, ok 3 minutes, for six hours
        world.set("agent-a/cam-1", T0 + minutes(9 * n), "offline")
        world.set("agent-a/cam-1", T0 + minutes(9 * n + 6), "ok")
    _, transitions = run(world, T0, T0 + minutes(9 * 40))
    assert transitions == []


def test_flapping_after_firing_does_not_resolve_or_refire() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    world.set("agent-a/cam-1", T0, "offline")
    for n in range(20):  # after 30 minutes down, back for 2 minutes out of every 8
        world.set("agent-a/cam-1", T0 + minutes(30 + 8 * n), "ok")
        world.set("agent-a/cam-1", T0 + minutes(32 + 8 * n), "offline")
    active, transitions = run(world, T0, T0 + minutes(200))
    assert len(kinds(transitions, TransitionKind.NOTIFY_FIRING)) == 1
    assert kinds(transitions, TransitionKind.NOTIFY_RESOLVED) == []
    assert len(active) == 1


def test_regency_outage_is_one_alert_and_one_recovery() -> None:
    world = World()
    for n in range(20):
        world.add_camera(f"agent-p/cam-{n:02d}", "16.71")
    world.add_camera("agent-q/cam-00", "16.72")
    for n in range(12):  # a power cut takes out 12 of Palembang's 20 cameras within 90 seconds
        world.set(f"agent-p/cam-{n:02d}", T0 + timedelta(seconds=7 * n), "offline")
        world.set(f"agent-p/cam-{n:02d}", T0 + minutes(60), "ok")
    active, transitions = run(world, T0, T0 + minutes(30))
    notified = kinds(transitions, TransitionKind.NOTIFY_FIRING)
    assert [t.alert.rule for t in notified] == [Rule.REGENCY_OUTAGE]
    assert len(notified[0].alert.members) == 12
    assert sum(a.rule == Rule.CAMERA_OFFLINE for a in active.values()) == 12
    assert all(
        a.suppressed_by == "grouped:regency_outage:16.71"
        for a in active.values()
        if a.rule != Rule.REGENCY_OUTAGE
    )

    active, transitions = run(world, T0, T0 + minutes(90))
    assert len(kinds(transitions, TransitionKind.NOTIFY_FIRING)) == 1
    assert [t.alert.rule for t in kinds(transitions, TransitionKind.NOTIFY_RESOLVED)] == [Rule.REGENCY_OUTAGE]
    assert active == {}


def test_long_broken_cameras_do_not_make_an_outage_with_one_new_failure() -> None:
    world = World()
    for n in range(20):
        world.add_camera(f"agent-p/cam-{n:02d}")
    for n in range(4):  # broken for days, each already alerted on its own
        world.set(f"agent-p/cam-{n:02d}", T0 - timedelta(hours=5 * (n + 1)), "offline")
    world.set("agent-p/cam-10", T0 + minutes(5), "offline")
    _, transitions = run(world, T0, T0 + minutes(30))
    notified = kinds(transitions, TransitionKind.NOTIFY_FIRING)
    assert sorted(t.alert.subject_id for t in notified) == [
        "agent-p/cam-00",
        "agent-p/cam-01",
        "agent-p/cam-02",
        "agent-p/cam-03",
        "agent-p/cam-10",
    ]


def test_small_regency_outage_by_fraction() -> None:
    world = World()
    for n in range(3):
        world.add_camera(f"agent-l/cam-{n}", "16.73")
    world.set("agent-l/cam-0", T0, "offline")
    world.set("agent-l/cam-1", T0 + minutes(2), "offline")
    _, transitions = run(world, T0, T0 + minutes(20))
    assert [t.alert.rule for t in kinds(transitions, TransitionKind.NOTIFY_FIRING)] == [Rule.REGENCY_OUTAGE]


def test_maintenance_window_suppresses_then_notifies_when_it_ends_if_still_bad() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    world.set("agent-a/cam-1", T0, "offline")
    window = Silence(
        kind="maintenance",
        target_kind=SubjectKind.REGENCY,
        target="16.71",
        starts_at=T0 - minutes(5),
        ends_at=T0 + minutes(60),
    )
    active, transitions = run(world, T0, T0 + minutes(59), silences=[window])
    assert kinds(transitions, TransitionKind.NOTIFY_FIRING) == []
    assert next(iter(active.values())).suppressed_by == "maintenance"
    _, transitions = run(world, T0, T0 + minutes(61), silences=[window])
    [late] = kinds(transitions, TransitionKind.NOTIFY_FIRING)
    assert late.at == T0 + minutes(60)


def test_muted_alert_that_recovers_sends_nothing() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    world.set("agent-a/cam-1", T0, "offline")
    world.set("agent-a/cam-1", T0 + minutes(30), "ok")
    mute = Silence(kind="mute", target_kind=SubjectKind.CAMERA, target="agent-a/cam-1", starts_at=T0)
    active, transitions = run(world, T0, T0 + minutes(60), silences=[mute])
    assert [t.kind for t in transitions if t.kind.startswith("notify")] == []
    assert len(kinds(transitions, TransitionKind.RESOLVED)) == 1
    assert active == {}


def test_agent_offline_inhibits_its_cameras() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    world.set("agent-a/cam-1", T0, "offline")
    agent = Observation(
        rule=Rule.AGENT_OFFLINE,
        subject_kind=SubjectKind.AGENT,
        subject_id="agent-a",
        subject_label="agent agent-a",
        bad=True,
        since=T0,
        thresholds=Thresholds(minutes(5), minutes(5)),
        regency="16.71",
        agent="agent-a",
    )
    active: dict[str, ActiveAlert] = {}
    notified = []
    for step in range(0, 40):
        now = T0 + minutes(step)
        evaluation = evaluate(active, [*world.observations(now), agent], [], now, GROUPING)
        active = evaluation.active
        notified += evaluation.of_kind(TransitionKind.NOTIFY_FIRING)
    assert [t.alert.rule for t in notified] == [Rule.AGENT_OFFLINE]
    assert active["camera_offline:agent-a/cam-1"].suppressed_by == "inhibited:agent_offline"


def test_evaluating_the_same_instant_twice_changes_nothing() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    world.set("agent-a/cam-1", T0, "offline")
    first = evaluate({}, world.observations(T0 + minutes(15)), [], T0 + minutes(15), GROUPING)
    again = evaluate(first.active, world.observations(T0 + minutes(15)), [], T0 + minutes(15), GROUPING)
    assert again.transitions == []
    # A restart that lost the state re-derives the same alert id, so storage can recognise it.
    fresh = evaluate({}, world.observations(T0 + minutes(16)), [], T0 + minutes(16), GROUPING)
    assert fresh.active.keys() == first.active.keys()
    assert [a.alert_id for a in fresh.active.values()] == [a.alert_id for a in first.active.values()]


def test_subject_removed_from_inventory_resolves() -> None:
    world = World()
    world.add_camera("agent-a/cam-1")
    world.set("agent-a/cam-1", T0, "offline")
    first = evaluate({}, world.observations(T0 + minutes(15)), [], T0 + minutes(15), GROUPING)
    gone = evaluate(first.active, [], [], T0 + minutes(16), GROUPING)
    assert [t.kind for t in gone.transitions] == [TransitionKind.RESOLVED, TransitionKind.NOTIFY_RESOLVED]
