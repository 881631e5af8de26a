"""The alert evaluator: a pure function of (active alerts, observations, silences, now) to transitions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from central.alerts.grouping import GroupingPolicy, outage_observations
from central.alerts.model import (
    ActiveAlert,
    Evaluation,
    Observation,
    Rule,
    Silence,
    SubjectKind,
    Transition,
    TransitionKind,
)

_CAMERA_RULES = frozenset({Rule.CAMERA_OFFLINE, Rule.CAMERA_DEGRADED})
_AGENT_BOUND_RULES = _CAMERA_RULES | {Rule.HOST_DISK, Rule.HOST_TEMPERATURE}


def alert_id_for(key: str, started_at: datetime) -> str:
    """Deterministic, so re-running an evaluation after a crash yields the same alert, not a twin."""
    return hashlib.sha256(f"{key}|{started_at.isoformat()}".encode()).hexdigest()[:24]


def evaluate(
    active: Mapping[str, ActiveAlert],
    observations: Iterable[Observation],
    silences: Iterable[Silence],
    now: datetime,
    grouping: GroupingPolicy | None = None,
) -> Evaluation:
    """Fire, update, resolve and decide notifications; ``active`` is not modified."""
    observed = list(observations)
    outage_members: dict[str, str] = {}
    if grouping is not None:
        outages, outage_members = outage_observations(observed, grouping)
        observed.extend(outages)

    alerts = {key: replace(alert) for key, alert in active.items()}
    result = Evaluation(active=alerts)
    resolved: list[ActiveAlert] = []
    seen: set[str] = set()

    for observation in observed:
        seen.add(observation.key)
        alert = alerts.get(observation.key)
        if alert is None:
            if _ready_to_fire(observation, now):
                alert = _new_alert(observation, now)
                alerts[alert.key] = alert
                result.transitions.append(Transition(TransitionKind.FIRED, alert, now))
        elif observation.bad is None:
            continue
        elif observation.bad:
            if _refresh(alert, observation):
                result.transitions.append(Transition(TransitionKind.UPDATED, alert, now))
        else:
            good_since = observation.since or alert.good_since or now
            if alert.good_since != good_since:
                alert.good_since = good_since
                result.transitions.append(Transition(TransitionKind.UPDATED, alert, now))
            if now - good_since >= observation.thresholds.resolve_after:
                resolved.append(alert)

    # A subject that disappeared (removed from inventory) cannot recover; close its alert.
    resolved.extend(alert for key, alert in alerts.items() if key not in seen)

    for alert in resolved:
        del alerts[alert.key]
        result.transitions.append(Transition(TransitionKind.RESOLVED, alert, now, resolved_at=now))
        if alert.notified:
            result.transitions.append(Transition(TransitionKind.NOTIFY_RESOLVED, alert, now, resolved_at=now))

    live_silences = [s for s in silences if s.active(now)]
    offline_agents = {a.subject_id for a in alerts.values() if a.rule == Rule.AGENT_OFFLINE}
    grouped = _grouped_cameras(alerts.values(), outage_members)
    for alert in sorted(alerts.values(), key=lambda a: (a.started_at, a.key)):
        suppressed_by = _suppression(alert, live_silences, grouped, offline_agents)
        if suppressed_by != alert.suppressed_by:
            alert.suppressed_by = suppressed_by
            result.transitions.append(Transition(TransitionKind.UPDATED, alert, now))
        # Never announce a problem that is already going away (e.g. members of an ending outage).
        if not alert.notified and suppressed_by is None and alert.good_since is None:
            alert.notified = True
            result.transitions.append(Transition(TransitionKind.NOTIFY_FIRING, alert, now))
    return result


def _grouped_cameras(alerts: Iterable[ActiveAlert], outage_members: Mapping[str, str]) -> dict[str, str]:
    """Camera id -> outage key: today's members, and members of outages that are still winding down."""
    grouped: dict[str, str] = {}
    for alert in alerts:
        if alert.rule != Rule.REGENCY_OUTAGE:
            continue
        current = tuple(sorted(c for c, key in outage_members.items() if key == alert.key))
        if current:
            alert.members = current
        grouped.update(dict.fromkeys(alert.members, alert.key))
    grouped.update(outage_members)
    return grouped


def _ready_to_fire(observation: Observation, now: datetime) -> bool:
    return (
        observation.bad is True
        and observation.since is not None
        and now - observation.since >= observation.thresholds.fire_after
    )


def _new_alert(observation: Observation, now: datetime) -> ActiveAlert:
    assert observation.since is not None
    return ActiveAlert(
        alert_id=alert_id_for(observation.key, observation.since),
        rule=observation.rule,
        subject_kind=observation.subject_kind,
        subject_id=observation.subject_id,
        subject_label=observation.subject_label,
        severity=observation.severity,
        message=observation.message,
        started_at=observation.since,
        fired_at=now,
        regency=observation.regency,
        agent=observation.agent,
        opd=observation.opd,
    )


def _refresh(alert: ActiveAlert, observation: Observation) -> bool:
    """Carry the latest wording and severity; True if anything changed."""
    before = (alert.good_since, alert.severity, alert.message, alert.subject_label)
    alert.good_since = None
    alert.severity = observation.severity
    alert.message = observation.message
    alert.subject_label = observation.subject_label
    return before != (alert.good_since, alert.severity, alert.message, alert.subject_label)


def _suppression(
    alert: ActiveAlert,
    silences: list[Silence],
    outage_members: Mapping[str, str],
    offline_agents: set[str],
) -> str | None:
    """Why this alert must stay quiet now, or None: silences first, then inhibition by a wider alert."""
    for silence in silences:
        if silence.matches(alert):
            return silence.kind
    if alert.rule in _CAMERA_RULES and alert.subject_id in outage_members:
        return f"grouped:{outage_members[alert.subject_id]}"
    if (
        alert.rule in _AGENT_BOUND_RULES
        and alert.subject_kind != SubjectKind.AGENT
        and alert.agent in offline_agents
    ):
        return "inhibited:agent_offline"
    return None
