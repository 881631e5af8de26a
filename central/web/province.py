"""Per-regency tiles and province totals (cameras, websites, agents, rollout stage), cached for a moment.

A Flask extension: :func:`init_app` gives each app one :class:`RollupCache`, and :func:`province_rollup`
is the one way pages, the wall, the API and /metrics read it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field, fields

from flask import Flask, current_app
from sqlalchemy.orm import Session

from central.config import ProvinceConfig
from central.rollout import derive_stage
from central.storage.models import RolloutStage
from central.storage.queries import RegencyCounts, change_feed_position, province_counts, regency_counts
from central.web.database import db_session
from central.web.severity import Assessment, Health, Signals, assess
from shared.regencies import PROVINCE_CODE

__all__ = [
    "Health", "ProvinceRollup", "RegencyRollup", "RollupCache", "clear_province_rollup", "compute_rollup", "init_app",
    "province_rollup",
]


@dataclass(slots=True)
class RegencyRollup(RegencyCounts):
    """One owner's tile: storage's counts (the one definition of them) plus its names, plan and health."""

    kind: str = ""
    slug: str = ""
    planned_start: dt.date | None = None
    started_on: dt.date | None = None
    target_date: dt.date | None = None
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
    def integrated(self) -> bool:
        return self.stage.step >= RolloutStage.AGENT_ONLINE.step


# The counts that add up across owners: every int field of RegencyCounts.
_ADDED_UP = tuple(f.name for f in fields(RegencyCounts) if f.type in ("int", int))


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

    @property
    def totals(self) -> RegencyCounts:
        """Every owner's counts and targets added up (the same definition, so the same "unknown")."""
        summed = RegencyCounts(PROVINCE_CODE, "")
        for owner in self.owners:
            for name in _ADDED_UP:
                setattr(summed, name, getattr(summed, name) + getattr(owner, name))
        return summed

    @property
    def regencies_integrated(self) -> int:
        return sum(1 for r in self.regencies if r.integrated)

    @property
    def cameras_total(self) -> int:
        return self.totals.cameras_total

    @property
    def cameras_live(self) -> int:
        """Cameras delivering pictures: ok or degraded (degraded still shows an image)."""
        totals = self.totals
        return totals.cameras_ok + totals.cameras_degraded


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
    r = RegencyRollup(**{f.name: getattr(counts, f.name) for f in fields(RegencyCounts)})
    r.name, r.kind, r.slug = name, kind, slug
    if counts.rollout is not None:
        rollout = counts.rollout
        r.planned_start, r.started_on = rollout.planned_start, rollout.started_on
        r.target_date, r.notes = rollout.target_date, rollout.notes or ""
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


# --- the Flask extension ------------------------------------------------------------------------

EXTENSION_KEY = "scc_province_rollup"


def init_app(app: Flask) -> None:
    """One rollup cache per app, configured from central.toml ([web] rollup_cache_s, [province])."""
    app.extensions[EXTENSION_KEY] = RollupCache(app.config["ROLLUP_CACHE_S"], app.config["SCC"].province)


def province_rollup() -> ProvinceRollup:
    """The province rollup for this request: the one accessor pages, the wall, the API and /metrics use."""
    cache: RollupCache = current_app.extensions[EXTENSION_KEY]
    return cache.get(db_session())


def clear_province_rollup() -> None:
    """Forget the cached rollup (after an edit), so the next request shows the change."""
    cache: RollupCache = current_app.extensions[EXTENSION_KEY]
    cache.clear()
