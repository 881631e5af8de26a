"""Per-regency tiles and province totals (cameras, websites, agents, rollout stage), cached for a moment."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session

from central.rollout import Stage, derive_stage
from central.storage.models import RolloutStage
from central.storage.queries import change_feed_position, regency_counts

__all__ = ["Health", "ProvinceRollup", "RegencyRollup", "RollupCache", "Stage", "compute_rollup", "derive_stage"]


class Health(StrEnum):
    """One colour per regency tile."""

    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    INACTIVE = "inactive"  # nothing reporting yet: grey, not red


# A regency is red when this share of its cameras is offline, or its agent is gone.
CRITICAL_OFFLINE_SHARE = 0.2


@dataclass(slots=True)
class RegencyRollup:
    code: str
    name: str
    kind: str
    slug: str
    cameras_ok: int = 0
    cameras_degraded: int = 0
    cameras_offline: int = 0
    cameras_unknown: int = 0
    websites_fresh: int = 0
    websites_stale: int = 0
    websites_down: int = 0
    websites_unknown: int = 0
    agents_total: int = 0
    agents_online: int = 0
    last_seen_at: dt.datetime | None = None
    stored_stage: str = RolloutStage.PLANNED.value
    target_cameras: int = 0
    target_websites: int = 0
    planned_start: dt.date | None = None
    started_on: dt.date | None = None
    target_date: dt.date | None = None
    completed_on: dt.date | None = None
    notes: str = ""
    stage: Stage = Stage.PLANNED
    health: Health = Health.INACTIVE

    @property
    def display_name(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def cameras_total(self) -> int:
        return self.cameras_ok + self.cameras_degraded + self.cameras_offline + self.cameras_unknown

    @property
    def cameras_reporting(self) -> int:
        return self.cameras_ok + self.cameras_degraded + self.cameras_offline

    @property
    def websites_total(self) -> int:
        return self.websites_fresh + self.websites_stale + self.websites_down + self.websites_unknown

    @property
    def websites_reporting(self) -> int:
        return self.websites_fresh + self.websites_stale + self.websites_down

    @property
    def integrated(self) -> bool:
        return self.stage.step >= Stage.AGENT_ONLINE.step


@dataclass(slots=True)
class ProvinceRollup:
    regencies: list[RegencyRollup]
    computed_at: dt.datetime
    by_code: dict[str, RegencyRollup] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_code = {r.code: r for r in self.regencies}

    def _sum(self, attribute: str) -> int:
        return sum(getattr(r, attribute) for r in self.regencies)

    @property
    def regencies_integrated(self) -> int:
        return sum(1 for r in self.regencies if r.integrated)

    @property
    def cameras_total(self) -> int:
        return self._sum("cameras_total")

    @property
    def cameras_live(self) -> int:
        """Cameras delivering pictures: ok or degraded (degraded still shows an image)."""
        return self._sum("cameras_ok") + self._sum("cameras_degraded")

    def total(self, attribute: str) -> int:
        return self._sum(attribute)


def derive_health(r: RegencyRollup) -> Health:
    if r.agents_total == 0 or (r.cameras_total == 0 and r.websites_total == 0 and r.last_seen_at is None):
        return Health.INACTIVE
    if r.agents_online < r.agents_total:
        return Health.CRITICAL
    if r.cameras_total and r.cameras_offline / r.cameras_total >= CRITICAL_OFFLINE_SHARE:
        return Health.CRITICAL
    if r.cameras_offline or r.cameras_degraded or r.websites_down or r.websites_stale:
        return Health.WARN
    return Health.OK


def compute_rollup(session: Session, now: dt.datetime | None = None) -> ProvinceRollup:
    """Four grouped queries, whatever the number of cameras; the cameras that count are storage's."""
    regencies = []
    for counts in regency_counts(session):
        assert counts.regency is not None
        cameras, websites, rollout = counts.cameras, counts.websites, counts.rollout
        r = RegencyRollup(
            code=counts.code,
            name=counts.regency.name,
            kind=counts.regency.kind,
            slug=counts.regency.slug,
            cameras_ok=cameras["ok"],
            cameras_degraded=cameras["degraded"],
            cameras_offline=cameras["offline"],
            # Any status outside the known three shows as unknown (grey), never vanishes from the totals.
            cameras_unknown=counts.cameras_total - cameras["ok"] - cameras["degraded"] - cameras["offline"],
            websites_fresh=websites["fresh"],
            websites_stale=websites["stale"],
            websites_down=websites["down"],
            websites_unknown=counts.websites_total - websites["fresh"] - websites["stale"] - websites["down"],
            agents_total=counts.agents_total,
            agents_online=counts.agents_online,
            last_seen_at=counts.last_seen_at,
            stored_stage=counts.stored_stage,
            target_cameras=counts.target_cameras,
            target_websites=counts.target_websites,
        )
        if rollout is not None:
            r.planned_start, r.started_on = rollout.planned_start, rollout.started_on
            r.target_date, r.completed_on = rollout.target_date, rollout.completed_on
            r.notes = rollout.notes or ""
        r.stage = derive_stage(counts)  # the very derivation the public RegencySummary uses
        r.health = derive_health(r)
        regencies.append(r)
    return ProvinceRollup(regencies=regencies, computed_at=now or dt.datetime.now(dt.UTC))


class RollupCache:
    """Reuse one rollup for ``ttl_s`` seconds per process: a wall of screens asks for the same thing.

    It also expires as soon as the change feed moves, so a page refreshed because of a live event
    shows that event. When it expires, one thread recomputes while the others keep serving the
    previous rollup, so the refresh never stalls a burst of requests behind a lock.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._value: ProvinceRollup | None = None
        self._expires = 0.0
        self._position = -1
        self._lock = threading.Lock()

    def get(self, session: Session) -> ProvinceRollup:
        if self.ttl_s <= 0:
            return compute_rollup(session)
        value = self._value
        position = change_feed_position(session)
        if value is not None and time.monotonic() < self._expires and position == self._position:
            return value
        if value is not None and not self._lock.acquire(blocking=False):
            return value  # someone else is refreshing it
        if value is None:
            self._lock.acquire()
        try:
            if self._value is None or time.monotonic() >= self._expires or position != self._position:
                self._value = compute_rollup(session)
                self._expires = time.monotonic() + self.ttl_s
                self._position = position
            return self._value
        finally:
            self._lock.release()

    def clear(self) -> None:
        with self._lock:
            self._value = None
