"""Per-regency tiles and province totals (cameras, websites, agents, rollout stage), cached for a moment."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from central.config import ProvinceConfig
from central.rollout import derive_stage
from central.storage.models import RolloutStage
from central.storage.queries import RegencyCounts, change_feed_position, province_counts, regency_counts
from central.web.severity import Assessment, Health, Signals, assess
from shared.regencies import PROVINCE_CODE

__all__ = ["Health", "ProvinceRollup", "RegencyRollup", "RollupCache", "compute_rollup"]


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
    websites_maintenance: int = 0  # within an announced maintenance: neither up nor down
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
    stage: RolloutStage = RolloutStage.PLANNED
    health: Health = Health.INACTIVE
    assessment: Assessment = field(default_factory=lambda: Assessment(Health.INACTIVE, 0.0, ("not_integrated",)))

    @property
    def display_name(self) -> str:
        return f"{self.kind} {self.name}" if self.kind else self.name

    @property
    def is_province(self) -> bool:
        """The province's own offices, not one of the 17 regencies (no regency page of its own)."""
        return self.code == PROVINCE_CODE

    @property
    def cameras_total(self) -> int:
        return self.cameras_ok + self.cameras_degraded + self.cameras_offline + self.cameras_unknown

    @property
    def cameras_reporting(self) -> int:
        return self.cameras_ok + self.cameras_degraded + self.cameras_offline

    @property
    def websites_total(self) -> int:
        return (self.websites_fresh + self.websites_stale + self.websites_down + self.websites_maintenance
                + self.websites_unknown)

    @property
    def websites_reporting(self) -> int:
        return self.websites_fresh + self.websites_stale + self.websites_down

    @property
    def integrated(self) -> bool:
        return self.stage.step >= RolloutStage.AGENT_ONLINE.step


@dataclass(slots=True)
class ProvinceRollup:
    """The 17 regencies and, when configured, the province's own offices (``offices``, code "16").

    Totals count both; ``regencies_integrated`` and ``by_code`` are about the 17 regencies only.
    """

    regencies: list[RegencyRollup]
    computed_at: dt.datetime
    offices: RegencyRollup | None = None
    by_code: dict[str, RegencyRollup] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_code = {r.code: r for r in self.regencies}

    @property
    def owners(self) -> list[RegencyRollup]:
        """Every owner of cameras and websites: the regencies, then the province's own offices."""
        return [*self.regencies, *([self.offices] if self.offices else [])]

    @property
    def worst_first(self) -> list[RegencyRollup]:
        """Owners by severity (critical first, not integrated last), then impact, then code."""
        return sorted(self.owners, key=lambda r: (*r.assessment.sort_key, r.code))

    def _sum(self, attribute: str) -> int:
        return sum(getattr(r, attribute) for r in self.owners)

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


def signals(r: RegencyRollup) -> Signals:
    """The rollup's counts as central.web.severity reads them."""
    return Signals(
        agents_total=r.agents_total,
        agents_online=r.agents_online,
        cameras_total=r.cameras_total,
        cameras_offline=r.cameras_offline,
        cameras_degraded=r.cameras_degraded,
        websites_total=r.websites_total,
        websites_down=r.websites_down,
        websites_stale=r.websites_stale,
        heard_from=r.last_seen_at is not None or r.cameras_total > 0 or r.websites_total > 0,
    )


def derive_health(r: RegencyRollup) -> Health:
    return assess(signals(r)).health


def _from_counts(counts: RegencyCounts, name: str, kind: str, slug: str) -> RegencyRollup:
    cameras, websites, rollout = counts.cameras, counts.websites, counts.rollout
    r = RegencyRollup(
        code=counts.code,
        name=name,
        kind=kind,
        slug=slug,
        cameras_ok=cameras["ok"],
        cameras_degraded=cameras["degraded"],
        cameras_offline=cameras["offline"],
        # Any status outside the known three shows as unknown (grey), never vanishes from the totals.
        cameras_unknown=counts.cameras_total - cameras["ok"] - cameras["degraded"] - cameras["offline"],
        websites_fresh=websites["fresh"],
        websites_stale=websites["stale"],
        websites_down=websites["down"],
        websites_maintenance=websites["maintenance"],
        websites_unknown=counts.websites_total - websites["fresh"] - websites["stale"] - websites["down"]
        - websites["maintenance"],
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
    r.assessment = assess(signals(r))
    r.health = r.assessment.health
    return r


def compute_rollup(
    session: Session, now: dt.datetime | None = None, province: ProvinceConfig | None = None
) -> ProvinceRollup:
    """A few grouped queries, whatever the number of cameras; the cameras that count are storage's.

    With ``province.agents`` set, what those agents report is the province's own offices' (``offices``).
    """
    agents = tuple(province.agents) if province else ()
    regencies = []
    for counts in regency_counts(session, province_agents=agents):
        assert counts.regency is not None
        regencies.append(_from_counts(counts, counts.regency.name, counts.regency.kind, counts.regency.slug))
    offices = None
    if province is not None and agents:
        counts = province_counts(session, PROVINCE_CODE, province.name, agents)
        offices = _from_counts(counts, province.name, "", "provinsi")
    return ProvinceRollup(regencies=regencies, computed_at=now or dt.datetime.now(dt.UTC), offices=offices)


class RollupCache:
    """Reuse one rollup for ``ttl_s`` seconds per process: a wall of screens asks for the same thing.

    It also expires as soon as the change feed moves, so a page refreshed because of a live event
    shows that event. When it expires, one thread recomputes while the others keep serving the
    previous rollup, so the refresh never stalls a burst of requests behind a lock.
    """

    def __init__(self, ttl_s: float, province: ProvinceConfig | None = None) -> None:
        self.ttl_s = ttl_s
        self.province = province
        self._value: ProvinceRollup | None = None
        self._expires = 0.0
        self._position = -1
        self._lock = threading.Lock()

    def get(self, session: Session) -> ProvinceRollup:
        if self.ttl_s <= 0:
            return compute_rollup(session, province=self.province)
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
                self._value = compute_rollup(session, province=self.province)
                self._expires = time.monotonic() + self.ttl_s
                self._position = position
            return self._value
        finally:
            self._lock.release()

    def clear(self) -> None:
        with self._lock:
            self._value = None
