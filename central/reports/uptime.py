"""Uptime arithmetic: availability, downtime, incidents and MTTR from status periods; pure functions.

Definitions (the PDF's footnote repeats them):
* monitored time: the part of the period up to now with a known status, minus maintenance windows;
* downtime: monitored time spent ``offline`` (degraded counts as available: the picture is there);
* availability: 1 - downtime / monitored time;
* incidents: offline periods overlapping the period (one spanning two months counts in both);
* MTTR: mean full duration of the incidents that ended within the period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

K = TypeVar("K")

DOWN = "offline"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    status: str
    started_at: datetime
    ended_at: datetime | None  # None: still in this status


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime


@dataclass(slots=True)
class Uptime:
    """Summable figures for one camera or a group of cameras."""

    monitored_s: float = 0.0
    down_s: float = 0.0
    incidents: int = 0
    repaired: int = 0
    repair_s: float = 0.0
    subjects: int = 0

    @property
    def availability_pct(self) -> float | None:
        if self.monitored_s <= 0:
            return None
        return 100.0 * (1.0 - self.down_s / self.monitored_s)

    @property
    def downtime_minutes(self) -> float:
        return self.down_s / 60.0

    @property
    def mttr_minutes(self) -> float | None:
        return self.repair_s / self.repaired / 60.0 if self.repaired else None

    def add(self, other: Uptime) -> None:
        self.monitored_s += other.monitored_s
        self.down_s += other.down_s
        self.incidents += other.incidents
        self.repaired += other.repaired
        self.repair_s += other.repair_s
        self.subjects += other.subjects


def _overlap(start: datetime, end: datetime, spans: Sequence[Span]) -> float:
    """Seconds of [start, end) covered by ``spans`` (assumed not to overlap each other)."""
    total = 0.0
    for span in spans:
        lo, hi = max(start, span.start), min(end, span.end)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def subject_uptime(
    periods: Iterable[StatusPeriod],
    start: datetime,
    end: datetime,
    now: datetime,
    maintenance: Sequence[Span] = (),
) -> Uptime:
    """One camera's figures for [start, end), counting only time before ``now``."""
    horizon = min(end, now)
    excluded = merge_spans(maintenance)
    result = Uptime(subjects=1)
    for period in periods:
        period_end = period.ended_at or now
        lo, hi = max(period.started_at, start), min(period_end, horizon)
        if hi <= lo:
            continue
        seconds = (hi - lo).total_seconds() - _overlap(lo, hi, excluded)
        if period.status == UNKNOWN or seconds <= 0:
            continue  # no data, or wholly inside maintenance: neither monitored nor an incident
        result.monitored_s += seconds
        if period.status == DOWN:
            result.down_s += seconds
            result.incidents += 1
            if period.ended_at is not None and start <= period.ended_at <= horizon:
                result.repaired += 1
                result.repair_s += (period.ended_at - period.started_at).total_seconds()
    return result


def group_uptime(items: Iterable[tuple[K, Uptime]], key: Callable[[K], str]) -> dict[str, Uptime]:
    """Sum per-subject figures into groups (regency, OPD)."""
    groups: dict[str, Uptime] = defaultdict(Uptime)
    for subject, uptime in items:
        groups[key(subject)].add(uptime)
    return dict(groups)
