"""A scripted world for alert tests: camera status timelines turned into observations at any instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from central.alerts.grouping import GroupingPolicy
from central.alerts.model import Observation, Rule, SubjectKind, Thresholds

T0 = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
OFFLINE_THRESHOLDS = Thresholds(fire_after=timedelta(minutes=10), resolve_after=timedelta(minutes=5))
GROUPING = GroupingPolicy(
    min_cameras=5, min_fraction=0.5, window=timedelta(minutes=10), thresholds=OFFLINE_THRESHOLDS
)


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


@dataclass
class World:
    """Each camera's (time, status) changes; status before its first change is 'ok'."""

    regency_of: dict[str, str] = field(default_factory=dict)
    changes: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)

    def add_camera(self, camera: str, regency: str = "16.71") -> None:
        self.regency_of[camera] = regency
        self.changes[camera] = [(T0 - timedelta(days=1), "ok")]

    def set(self, camera: str, at: datetime, status: str) -> None:
        self.changes[camera].append((at, status))
        self.changes[camera].sort()

    def observations(self, now: datetime) -> list[Observation]:
        result = []
        for camera, history in self.changes.items():
            past = [(t, s) for t, s in history if t <= now]
            bad = past[-1][1] == "offline"
            since = past[-1][0]
            for t, s in reversed(past):
                if (s == "offline") != bad:
                    break
                since = t
            result.append(
                Observation(
                    rule=Rule.CAMERA_OFFLINE,
                    subject_kind=SubjectKind.CAMERA,
                    subject_id=camera,
                    subject_label=f"camera {camera}",
                    bad=bad,
                    since=since,
                    thresholds=OFFLINE_THRESHOLDS,
                    message="offline" if bad else "ok",
                    regency=self.regency_of[camera],
                    agent=camera.split("/")[0],
                )
            )
        return result
