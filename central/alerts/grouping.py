"""Regency-wide outages: many cameras of one regency failing close together become one observation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from central.alerts.model import Observation, Rule, SubjectKind, Thresholds
from shared.messages import AlertSeverity
from shared.regencies import PROVINCE_CODE, regency_label


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    min_cameras: int
    min_fraction: float
    window: timedelta
    thresholds: Thresholds


@dataclass(frozen=True, slots=True)
class Outage:
    """The largest set of a regency's cameras whose failures began within one window of each other."""

    regency: str
    members: tuple[str, ...]
    total: int
    since: datetime


def _qualifies(size: int, total: int, policy: GroupingPolicy) -> bool:
    return size >= policy.min_cameras or (size >= 2 and total > 0 and size / total >= policy.min_fraction)


def find_outage(regency: str, cameras: list[Observation], policy: GroupingPolicy) -> Outage | None:
    """The qualifying cluster of failing cameras, or None; long-broken cameras outside the window don't join."""
    failing = sorted(
        (o for o in cameras if o.bad is True and o.since is not None), key=lambda o: (o.since, o.subject_id)
    )
    best: list[Observation] = []
    end = 0
    for start, first in enumerate(failing):
        assert first.since is not None
        end = max(end, start)
        while end < len(failing) and failing[end].since - first.since <= policy.window:  # type: ignore[operator]
            end += 1
        if end - start > len(best):
            best = failing[start:end]
    if not _qualifies(len(best), len(cameras), policy):
        return None
    # The outage began when the cluster first qualified: at the failure that made it big enough.
    needed = next(n for n in range(1, len(best) + 1) if _qualifies(n, len(cameras), policy))
    since = best[needed - 1].since
    assert since is not None
    return Outage(regency, tuple(o.subject_id for o in best), len(cameras), since)


def outage_observations(
    observations: Iterable[Observation], policy: GroupingPolicy
) -> tuple[list[Observation], dict[str, str]]:
    """One regency_outage observation per owner with cameras (each regency, the province's own offices), and
    camera id -> outage key for members."""
    by_regency: dict[str, list[Observation]] = defaultdict(list)
    for observation in observations:
        if observation.rule == Rule.CAMERA_OFFLINE and observation.regency:
            by_regency[observation.regency].append(observation)
    results: list[Observation] = []
    members: dict[str, str] = {}
    for regency, cameras in sorted(by_regency.items()):
        outage = find_outage(regency, cameras, policy)
        label = regency_label(regency)
        if outage is None:
            message = f"{label}: kamera kembali normal"
        else:
            message = f"{label}: {len(outage.members)} dari {outage.total} kamera offline bersamaan"
        observation = Observation(
            rule=Rule.REGENCY_OUTAGE,
            subject_kind=SubjectKind.REGENCY,
            subject_id=regency,
            # the province's own offices are no kabupaten/kota: their name says who they are
            subject_label=label if regency == PROVINCE_CODE else f"kabupaten/kota {label}",
            bad=outage is not None,
            since=outage.since if outage else None,
            thresholds=policy.thresholds,
            severity=AlertSeverity.CRITICAL,
            message=message,
            regency=regency,
        )
        results.append(observation)
        if outage is not None:
            for camera in outage.members:
                members[camera] = observation.key
    return results, members
