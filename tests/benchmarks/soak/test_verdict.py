"""The soak's alert audit: alerts are matched to the incident they belong to, by camera and by time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from benchmarks.soak.actions import Done
from benchmarks.soak.chaos import Incident, Kind
from benchmarks.soak.verdict import AlertAudit, audit_alerts, growth_pct_per_hour, memory_judged_from
from benchmarks.soak.watch import Sample

T0 = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
CAMERA_AGENT = {"cam1": "agent-a", "cam2": "agent-a", "cam3": "agent-a"}


def _wall(at: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=at)


def _done(camera: str, began: float, lasts: float) -> Done:
    return Done(Incident(began, Kind.CAMERA, camera, "frozen", lasts), began, began + lasts)


def _alert(camera: str, rule: str, started: float, resolved: float | None) -> dict[str, object]:
    return {"subject_id": f"agent-a/{camera}", "rule": rule, "started_at": _wall(started).isoformat(),
            "resolved_at": None if resolved is None else _wall(resolved).isoformat()}


def _audit(done: list[Done], alerts: list[dict[str, object]]) -> AlertAudit:
    return audit_alerts(done, alerts, CAMERA_AGENT, fire_after_s=60, interval_s=20, wall=_wall)


def test_two_incidents_on_one_camera_with_one_alert_each_are_each_alerted_once() -> None:
    done = [_done("cam1", 100, 200), _done("cam1", 1000, 200)]
    alerts = [_alert("cam1", "camera_degraded", 170, 310), _alert("cam1", "camera_degraded", 1080, 1210)]
    audit = _audit(done, alerts)
    assert (audit.expected, audit.exactly_once, audit.doubled, audit.missed) == (2, 2, [], [])


def test_the_same_rule_twice_within_one_incident_is_doubled_and_an_alert_elsewhere_is_unexplained() -> None:
    done = [_done("cam1", 100, 300)]
    alerts = [_alert("cam1", "camera_degraded", 170, 200), _alert("cam1", "camera_degraded", 260, 410),
              _alert("cam2", "camera_degraded", 500, 600)]
    audit = _audit(done, alerts)
    assert len(audit.doubled) == 1 and audit.exactly_once == 0
    assert audit.unexplained == ["camera_degraded on agent-a/cam2 from 12:08:20"]


def test_an_incident_without_an_alert_in_its_window_is_missed_and_an_open_one_not_cleared() -> None:
    done = [_done("cam1", 100, 200), _done("cam1", 1000, 200)]
    alerts = [_alert("cam1", "camera_degraded", 1070, None)]  # only the second incident's, never resolved
    audit = _audit(done, alerts)
    assert len(audit.missed) == 1 and "at 100 s" in audit.missed[0]
    assert len(audit.not_cleared) == 1 and "at 1000 s" in audit.not_cleared[0]


def _agent_done(kind: Kind, agent: str, began: float, lasts: float) -> Done:
    return Done(Incident(began, kind, agent, "", lasts), began, began + lasts)


def _agent_alert(agent: str, started: float, resolved: float | None) -> dict[str, object]:
    return {"subject_id": agent, "rule": "agent_offline", "started_at": _wall(started).isoformat(),
            "resolved_at": None if resolved is None else _wall(resolved).isoformat()}


def test_a_long_link_cut_alerts_its_agent_once_after_the_grace_and_a_short_restart_must_not() -> None:
    done = [_agent_done(Kind.LINK_CUT, "agent-a", 100, 200), _agent_done(Kind.AGENT_RESTART, "agent-b", 1000, 20)]
    alerts = [_agent_alert("agent-a", 225, 310)]  # 60 s grace, then 60 s before firing
    audit = _audit(done, alerts)
    assert (audit.expected, audit.exactly_once, audit.spurious, audit.unexplained) == (1, 1, [], [])
    assert not audit.failed
    audit = _audit(done, [*alerts, _agent_alert("agent-b", 1070, 1080)])
    assert audit.spurious == ["agent_offline for agent_restart on agent-b at 1000 s"] and audit.failed


def test_a_long_link_cut_without_its_alert_is_missed() -> None:
    audit = _audit([_agent_done(Kind.LINK_CUT, "agent-a", 100, 200)], [])
    assert audit.missed == ["link_cut on agent-a at 100 s"] and audit.failed


def test_alerts_on_every_agent_during_central_s_own_outage_are_unexplained_and_fail_the_run() -> None:
    done = [Done(Incident(100, Kind.BROKER_KILL, "", "", 30), 100, 130)]
    alerts = [_agent_alert(agent, 200, 260) for agent in ("agent-a", "agent-b", "agent-c")]
    audit = _audit(done, alerts)
    assert sorted(audit.unexplained) == [f"agent_offline on agent-{x} from 12:03:20" for x in "abc"]
    assert audit.failed


def test_a_fault_begun_within_the_last_one_s_detection_time_owns_the_alert_it_raises() -> None:
    # The SQLite hour (seed 23): onvif_dead began 84 s after a freeze ended on the same camera, and its
    # alert 15 s later still fell in the freeze's window: counted twice there, as doubled.
    done = [_done("cam1", 2006, 174), _done("cam1", 2264, 217)]
    alerts = [_alert("cam1", "camera_degraded", 2068, 2225), _alert("cam1", "camera_degraded", 2279, 2456)]
    audit = _audit(done, alerts)
    assert (audit.expected, audit.exactly_once, audit.doubled, audit.missed, audit.unexplained) == (2, 2, [], [], [])


def test_an_alert_on_a_faulted_camera_outside_its_faults_is_unexplained() -> None:
    # The PostgreSQL hour (seed 23): two cameras went low_fps in the warm-up, under a loaded machine;
    # their scheduled faults came 24 and 43 minutes later, and subject-only matching let one pass.
    done = [_done("cam1", 1500, 200)]
    alerts = [_alert("cam1", "camera_degraded", 10, 300), _alert("cam1", "camera_degraded", 1570, 1710)]
    audit = _audit(done, alerts)
    assert audit.exactly_once == 1
    assert audit.unexplained == ["camera_degraded on agent-a/cam1 from 12:00:10"]


def test_a_camera_alert_under_its_agent_s_link_cut_is_explained_only_while_the_cut_can_cause_it() -> None:
    done = [_agent_done(Kind.LINK_CUT, "agent-a", 100, 200)]
    during = _alert("cam2", "camera_offline", 250, 400)
    long_after = _alert("cam2", "camera_offline", 900, 1000)
    audit = _audit(done, [during, long_after, _agent_alert("agent-a", 160, 320)])
    assert audit.unexplained == ["camera_offline on agent-a/cam2 from 12:15:00"]


def _samples(rss_of: Callable[[float], int], pid_of: Callable[[float], int | None]) -> list[Sample]:
    result = []
    for at in range(0, 1800, 10):
        pid = pid_of(at)
        result.append(Sample(float(at), {"ingest": rss_of(at)} if pid else {}, {},
                             {"ingest": frozenset({pid})} if pid else {}))
    return result


def test_memory_growth_is_judged_after_warm_up_and_after_a_restart_refills_its_caches() -> None:
    def restarted_at_800(at: float) -> int | None:
        return 1 if at < 780 else (None if at < 800 else 2)

    def refilling(at: float) -> int:  # grows from each start, flat once its cache is full (after 300 s)
        since = at if at < 780 else at - 800
        return 100_000_000 + int(min(since, 300) * 100_000)

    growth = growth_pct_per_hour(_samples(refilling, restarted_at_800), after=450, warmup_s=450)
    assert abs(growth["ingest"]) < 0.5  # judged from 1250 s: flat
    leaking = growth_pct_per_hour(_samples(lambda at: 100_000_000 + int(at * 10_000), lambda at: 1), 450, 450)
    assert leaking["ingest"] > 5.0
    assert "ingest" not in growth_pct_per_hour(_samples(refilling, lambda at: 1 if at < 1700 else 2), 450, 450)


def test_memory_is_judged_after_the_last_upheavals_high_water_mark_not_across_it() -> None:
    """The broker of the SQLite hour (2026-12-08): one step while the ingest was down, flat after it."""
    done = [_agent_done(Kind.BROKER_KILL, "", 100, 50), _agent_done(Kind.INGEST_KILL, "", 600, 40),
            _agent_done(Kind.LINK_CUT, "agent-a", 1000, 200), _agent_done(Kind.WEB_WORKER_KILL, "", 1100, 0)]
    judged_from = memory_judged_from(done, start=0, warmup_s=300)
    assert judged_from == 940  # the ingest kill's end + warm-up; a link cut or a web worker leaves no mark
    assert memory_judged_from([], start=0, warmup_s=300) == 300

    def stepped(at: float) -> int:
        return 11_600_000 if at < 600 else 13_100_000

    stepped_across = growth_pct_per_hour(_samples(stepped, lambda at: 1), after=300)
    assert stepped_across["ingest"] > 5.0  # what the rule said before: +12%/h of a flat process
    assert growth_pct_per_hour(_samples(stepped, lambda at: 1), after=judged_from)["ingest"] == 0.0

    def leaking_after(at: float) -> int:
        return stepped(at) + int(max(0.0, at - 600) * 400)  # +1.44 MB/h on 13 MB: 11%/h

    assert growth_pct_per_hour(_samples(leaking_after, lambda at: 1), after=judged_from)["ingest"] > 5.0


def test_an_alert_begun_and_cleared_in_the_warm_up_is_listed_not_judged() -> None:
    """The SQLite hour of 2026-12-08: seven low_fps from the agents' first decodes, all at once."""
    done = [_done("cam1", 100, 300)]
    warm = _alert("cam2", "camera_degraded", -400, -100)
    open_at_start = _alert("cam3", "camera_degraded", -400, 50)
    audit = audit_alerts(done, [_alert("cam1", "camera_degraded", 130, 420), warm, open_at_start], CAMERA_AGENT,
                         fire_after_s=60, interval_s=20, wall=_wall, chaos_began=_wall(0))
    assert audit.warm_up == [f"camera_degraded on agent-a/cam2 from {_wall(-400):%H:%M:%S}"]
    assert audit.unexplained == [f"camera_degraded on agent-a/cam3 from {_wall(-400):%H:%M:%S}"]  # still open
    assert audit.exactly_once == 1 and not audit.missed
    assert audit_alerts(done, [warm], CAMERA_AGENT, 60, 20, _wall).unexplained  # without a chaos start: judged
