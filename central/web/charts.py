"""Server-rendered chart geometry (SVG coordinates), so pages need no charting script or CDN."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.storage.maintenance import local_day
from central.storage.models import Agent, Camera, Website
from central.web.province import ProvinceRollup


@dataclass(frozen=True, slots=True)
class Segment:
    state: str
    x: float  # percent of the width
    width: float
    start: dt.datetime
    end: dt.datetime


def timeline(
    periods: list[tuple[str, dt.datetime, dt.datetime | None]], since: dt.datetime, now: dt.datetime
) -> list[Segment]:
    """Status periods clipped to [since, now] as bar segments in percent; gaps stay unknown (grey)."""
    span = (now - since).total_seconds()
    segments = []
    for state, start, end in periods:
        start, end = max(start, since), min(end or now, now)
        if end <= start:
            continue
        x = (start - since).total_seconds() / span * 100
        width = (end - start).total_seconds() / span * 100
        segments.append(Segment(state, round(x, 3), round(max(width, 0.15), 3), start, end))
    return segments


@dataclass(frozen=True, slots=True)
class Series:
    days: list[dt.date]
    cameras: list[int]
    websites: list[int]
    regencies: list[int]
    target_cameras: int
    target_websites: int


def _cumulative(stamps: list[dt.datetime], days: list[dt.date], tz: ZoneInfo) -> list[int]:
    local_days = sorted(local_day(s, tz) for s in stamps)
    return [bisect_right(local_days, day) for day in days]


# The states the rollup counts as reporting (central/web/province.py: cameras_reporting, websites_reporting).
REPORTING_CAMERA = ("ok", "degraded", "offline")
REPORTING_WEBSITE = ("fresh", "stale", "down")


def rollout_series(
    session: Session,
    rollup: ProvinceRollup,
    now: dt.datetime,
    tz: ZoneInfo,
    max_days: int = 120,
    province_agents: Collection[str] = (),
) -> Series:
    """Cameras, websites and regencies integrated per day (cumulative), from when each first reported.

    "Integrated" is what the regencies' rollout cards count (``cameras_reporting``, ``websites_reporting``:
    in service and in a known state, the province's own offices left out), so the line ends where the
    cards add up. Days are calendar days in ``tz`` (the configured zone the pages show times in), so a
    camera that first reported at 23:30 local time counts on that day, not the next.
    """
    cameras = list(
        session.scalars(
            select(Camera.first_seen_at).where(
                Camera.in_service, Camera.status.in_(REPORTING_CAMERA), Camera.agent_name.not_in(province_agents)
            )
        )
    )
    websites = list(
        session.scalars(
            select(Website.first_seen_at).where(
                Website.state.in_(REPORTING_WEBSITE), Website.agent_name.not_in(province_agents)
            )
        )
    )
    first_agent: dict[str, dt.datetime] = {}
    for code, created in session.execute(
        select(Agent.regency_code, Agent.created_at).where(Agent.name.not_in(province_agents))
    ):
        if code not in first_agent or created < first_agent[code]:
            first_agent[code] = created
    stamps = cameras + websites + list(first_agent.values())
    today = local_day(now, tz)
    start = min((local_day(s, tz) for s in stamps), default=today - dt.timedelta(days=30))
    start = max(min(start, today - dt.timedelta(days=7)), today - dt.timedelta(days=max_days))
    days = [start + dt.timedelta(days=i) for i in range((today - start).days + 1)]
    return Series(
        days=days,
        cameras=_cumulative(cameras, days, tz),
        websites=_cumulative(websites, days, tz),
        regencies=_cumulative(list(first_agent.values()), days, tz),
        target_cameras=rollup.totals.target_cameras,
        target_websites=rollup.totals.target_websites,
    )


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    css: str
    points: str  # SVG polyline points
    last: int
    target: int
    target_y: float | None


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    bottom: int
    lines: list[Line]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]


def progress_chart(series: Series, width: int = 720, height: int = 260) -> Chart:
    """Cameras and websites integrated over time against their targets, on one 0..max scale."""
    left, right, top, bottom = 48, 28, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([*series.cameras, *series.websites, series.target_cameras, series.target_websites, 1])
    scale = _nice_ceiling(peak / 4) * 4  # four round steps on the axis
    count = len(series.days)

    def x(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w)

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / scale

    def line(name: str, css: str, values: list[int], target: int) -> Line:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        return Line(name, css, points, values[-1] if values else 0, target, y(target) if target else None)

    y_ticks = [(y(scale * k / 4), f"{int(scale * k / 4)}") for k in range(5)]
    step = max(count // 6, 1)
    x_ticks = [(x(i), series.days[i].strftime("%d/%m")) for i in range(0, count, step)]
    return Chart(
        width=width,
        height=height,
        left=left,
        bottom=top + plot_h,
        lines=[
            line("cameras", "line-cameras", series.cameras, series.target_cameras),
            line("websites", "line-websites", series.websites, series.target_websites),
        ],
        y_ticks=y_ticks,
        x_ticks=x_ticks,
    )


def _nice_ceiling(value: float) -> float:
    magnitude = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return value
