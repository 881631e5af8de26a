"""Read and write functions over the storage models for the web, the API, alerts and the ingest.

Reads take a Session and return model objects or small dataclasses; writes change rows in the caller's
session and leave committing to the caller (``with database.session() as s: ...`` commits).

Change feed: :func:`events_after` returns events with ``id > after_id`` in id order; ids become visible
in increasing order (PostgreSQL ingest workers serialize event inserts), so a poller that remembers
the last id it saw never misses one. :func:`change_feed_position` is the cheap "anything new?" probe.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, or_, select, true
from sqlalchemy.orm import Session

from central.storage.models import (
    Agent,
    Camera,
    CameraCheck,
    CameraDaily,
    CameraStatusChange,
    CameraThumbnail,
    CommandRecord,
    Event,
    Regency,
    RegencyDaily,
    Rollout,
    RolloutStage,
    Website,
    WebsiteDaily,
    WebsiteState,
    WebsiteStatusChange,
    utcnow,
)

UPTIME_WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}
CAMERA_UP = frozenset({"ok", "degraded"})  # the camera delivers a picture
WEBSITE_UP = frozenset({"up", "degraded"})


# --- province and regencies ---------------------------------------------------------------------


@dataclass(slots=True)
class RegencyCounts:
    """Current counts for one regency: what RegencySummary publishes and the overview tiles show."""

    code: str
    name: str
    stage: str = RolloutStage.PLANNED.value
    target_cameras: int = 0
    target_websites: int = 0
    agents_online: int = 0
    agents_total: int = 0
    cameras: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("ok", "degraded", "offline", "unknown"), 0))
    websites: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("fresh", "stale", "down", "unknown"), 0))

    @property
    def cameras_total(self) -> int:
        return sum(self.cameras.values())

    @property
    def websites_total(self) -> int:
        return sum(self.websites.values())


def regency_counts(session: Session, codes: set[str] | None = None) -> list[RegencyCounts]:
    """Per-regency camera statuses, website states, agents online and rollout stage, in code order.

    Cameras the agent no longer lists (lost from inventory) still count until an operator deletes them:
    a camera stolen off its pole must stay visible as offline, not vanish.
    """
    regency_filter = Regency.code.in_(codes) if codes else true()
    rows = session.execute(
        select(Regency.code, Regency.kind, Regency.name, Rollout.stage, Rollout.target_cameras, Rollout.target_websites)
        .outerjoin(Rollout, Rollout.regency_code == Regency.code)
        .where(regency_filter)
        .order_by(Regency.code)
    ).all()
    result = {
        code: RegencyCounts(code, f"{kind} {name}", stage or RolloutStage.PLANNED.value, tc or 0, tw or 0)
        for code, kind, name, stage, tc, tw in rows
    }
    camera_filter = Camera.regency_code.in_(codes) if codes else true()
    for code, status, count in session.execute(
        select(Camera.regency_code, Camera.status, func.count()).where(camera_filter).group_by(Camera.regency_code, Camera.status)
    ):
        result[code].cameras[status] = result[code].cameras.get(status, 0) + count
    website_filter = Website.regency_code.in_(codes) if codes else true()
    for code, state, count in session.execute(
        select(Website.regency_code, Website.state, func.count()).where(website_filter).group_by(Website.regency_code, Website.state)
    ):
        result[code].websites[state] = result[code].websites.get(state, 0) + count
    agent_filter = Agent.regency_code.in_(codes) if codes else true()
    for code, total, online in session.execute(
        select(Agent.regency_code, func.count(), func.sum(case((Agent.online.is_(True), 1), else_=0)))
        .where(agent_filter, Agent.revoked.is_(False))
        .group_by(Agent.regency_code)
    ):
        result[code].agents_total = total
        result[code].agents_online = int(online or 0)
    return list(result.values())


def province_counts(session: Session) -> RegencyCounts:
    """The 17 regencies' counts summed."""
    total = RegencyCounts("16", "Sumatera Selatan")
    for regency in regency_counts(session):
        total.agents_online += regency.agents_online
        total.agents_total += regency.agents_total
        total.target_cameras += regency.target_cameras
        total.target_websites += regency.target_websites
        for key, value in regency.cameras.items():
            total.cameras[key] = total.cameras.get(key, 0) + value
        for key, value in regency.websites.items():
            total.websites[key] = total.websites.get(key, 0) + value
    return total


# --- cameras ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int


def cameras_page(
    session: Session,
    *,
    regency: str | None = None,
    status: str | None = None,
    venue: str | None = None,
    search: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """Cameras filtered by regency/status/venue/search text, worst status first, paginated (page from 1)."""
    query = select(Camera)
    if regency:
        query = query.where(Camera.regency_code == regency)
    if status:
        query = query.where(Camera.status == status)
    if venue:
        query = query.where(Camera.venue == venue)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(Camera.display_name).like(pattern),
                func.lower(Camera.name).like(pattern),
                func.lower(Camera.camera_id).like(pattern),
                func.lower(Camera.location).like(pattern),
                func.lower(Camera.owner_opd).like(pattern),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    severity = case({"offline": 0, "degraded": 1, "unknown": 2, "ok": 3}, value=Camera.status, else_=4)
    page = max(1, page)
    items = session.scalars(
        query.order_by(severity, Camera.regency_code, Camera.agent_name, Camera.camera_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def get_camera(session: Session, camera_pk: int) -> Camera | None:
    return session.get(Camera, camera_pk)


def find_camera(session: Session, agent: str, camera_id: str) -> Camera | None:
    return session.scalar(select(Camera).where(Camera.agent_name == agent, Camera.camera_id == camera_id))


def camera_history(session: Session, camera_pk: int, *, limit: int = 100, before_id: int | None = None) -> list[CameraCheck]:
    """Raw check results, newest first (only the retention period is kept)."""
    query = select(CameraCheck).where(CameraCheck.camera_pk == camera_pk)
    if before_id is not None:
        query = query.where(CameraCheck.id < before_id)
    return list(session.scalars(query.order_by(CameraCheck.ts.desc(), CameraCheck.id.desc()).limit(limit)))


def camera_timeline(session: Session, camera_pk: int, since: dt.datetime) -> list[CameraStatusChange]:
    """Status periods overlapping [since, now], oldest first; the last one is open (ended_at None)."""
    return list(
        session.scalars(
            select(CameraStatusChange)
            .where(
                CameraStatusChange.camera_pk == camera_pk,
                or_(CameraStatusChange.ended_at.is_(None), CameraStatusChange.ended_at > since),
            )
            .order_by(CameraStatusChange.started_at, CameraStatusChange.id)
        )
    )


def latest_thumbnail(session: Session, camera_pk: int) -> CameraThumbnail | None:
    """The newest thumbnail (``.jpeg`` holds the bytes, ``.captured_at`` the time)."""
    return session.scalar(
        select(CameraThumbnail)
        .where(CameraThumbnail.camera_pk == camera_pk)
        .order_by(CameraThumbnail.captured_at.desc(), CameraThumbnail.id.desc())
        .limit(1)
    )


def update_camera_metadata(session: Session, camera_pk: int, **values: Any) -> Camera:
    """Set operator metadata: display_name, owner_opd, location, latitude, longitude, venue, tags, notes."""
    allowed = {"display_name", "owner_opd", "location", "latitude", "longitude", "venue", "tags", "notes"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not operator metadata: {', '.join(sorted(unknown))}")
    camera = session.get(Camera, camera_pk)
    if camera is None:
        raise LookupError(f"no camera {camera_pk}")
    for key, value in values.items():
        setattr(camera, key, list(value) if key == "tags" else value)
    return camera


# --- uptime -------------------------------------------------------------------------------------


def share_up(
    periods: list[tuple[str, dt.datetime, dt.datetime | None]], since: dt.datetime, now: dt.datetime, up: frozenset[str]
) -> float | None:
    """Share of the known time in [since, now] spent in an ``up`` state; None when nothing is known."""
    known = good = 0.0
    for state, start, end in periods:
        start, end = max(start, since), min(end or now, now)
        if end <= start or state == "unknown":
            continue
        seconds = (end - start).total_seconds()
        known += seconds
        if state in up:
            good += seconds
    return good / known if known else None


def camera_uptime(session: Session, camera_pk: int, now: dt.datetime | None = None) -> dict[str, float | None]:
    """Share of known time the camera delivered a picture, over 24h, 7d and 30d (from its status periods)."""
    now = now or utcnow()
    periods = [(p.status, p.started_at, p.ended_at) for p in camera_timeline(session, camera_pk, now - UPTIME_WINDOWS["30d"])]
    return {name: share_up(periods, now - span, now, CAMERA_UP) for name, span in UPTIME_WINDOWS.items()}


def website_uptime(session: Session, website_pk: int, now: dt.datetime | None = None) -> dict[str, float | None]:
    now = now or utcnow()
    since = now - UPTIME_WINDOWS["30d"]
    rows = session.scalars(
        select(WebsiteStatusChange).where(
            WebsiteStatusChange.website_pk == website_pk,
            or_(WebsiteStatusChange.ended_at.is_(None), WebsiteStatusChange.ended_at > since),
        )
    )
    periods = [(p.availability or "unknown", p.started_at, p.ended_at) for p in rows]
    return {name: share_up(periods, now - span, now, WEBSITE_UP) for name, span in UPTIME_WINDOWS.items()}


@dataclass(frozen=True, slots=True)
class DailyUptime:
    day: dt.date
    cameras: float | None  # share of known camera time with a picture
    websites: float | None  # share of known website time up


def regency_daily_uptime(session: Session, regency: str, since: dt.date) -> list[DailyUptime]:
    """A regency's uptime per local day from the daily rollups (kept beyond raw-data retention)."""
    rows = session.scalars(
        select(RegencyDaily).where(RegencyDaily.regency_code == regency, RegencyDaily.day >= since).order_by(RegencyDaily.day)
    )
    return [
        DailyUptime(
            r.day,
            _ratio(r.camera_seconds_ok + r.camera_seconds_degraded, r.camera_seconds_offline),
            _ratio(r.website_seconds_up + r.website_seconds_degraded, r.website_seconds_down),
        )
        for r in rows
    ]


def camera_daily_uptime(session: Session, camera_pk: int, since: dt.date) -> list[tuple[dt.date, float | None]]:
    rows = session.scalars(
        select(CameraDaily).where(CameraDaily.camera_pk == camera_pk, CameraDaily.day >= since).order_by(CameraDaily.day)
    )
    return [(r.day, _ratio(r.seconds_ok + r.seconds_degraded, r.seconds_offline)) for r in rows]


def website_daily_uptime(session: Session, website_pk: int, since: dt.date) -> list[tuple[dt.date, float | None]]:
    rows = session.scalars(
        select(WebsiteDaily).where(WebsiteDaily.website_pk == website_pk, WebsiteDaily.day >= since).order_by(WebsiteDaily.day)
    )
    return [(r.day, _ratio(r.seconds_up + r.seconds_degraded, r.seconds_down)) for r in rows]


def _ratio(up: float, down: float) -> float | None:
    return up / (up + down) if up + down > 0 else None


# --- websites -----------------------------------------------------------------------------------


def websites_page(
    session: Session, *, regency: str | None = None, state: str | None = None, page: int = 1, per_page: int = 50
) -> Page:
    """Websites, down first, then stale, paginated."""
    query = select(Website)
    if regency:
        query = query.where(Website.regency_code == regency)
    if state:
        query = query.where(Website.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    severity = case(
        {WebsiteState.DOWN.value: 0, WebsiteState.STALE.value: 1, WebsiteState.UNKNOWN.value: 2}, value=Website.state, else_=3
    )
    page = max(1, page)
    items = session.scalars(
        query.order_by(severity, Website.regency_code, Website.url).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def update_website_metadata(session: Session, website_pk: int, **values: Any) -> Website:
    allowed = {"display_name", "owner_opd", "notes"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not operator metadata: {', '.join(sorted(unknown))}")
    website = session.get(Website, website_pk)
    if website is None:
        raise LookupError(f"no website {website_pk}")
    for key, value in values.items():
        setattr(website, key, value)
    return website


# --- rollout ------------------------------------------------------------------------------------


def rollout_rows(session: Session) -> list[tuple[Regency, Rollout]]:
    return [
        (regency, rollout)
        for regency, rollout in session.execute(
            select(Regency, Rollout).join(Rollout, Rollout.regency_code == Regency.code).order_by(Regency.code)
        )
    ]


def update_rollout(session: Session, regency: str, *, updated_by: str = "", **values: Any) -> Rollout:
    """Set rollout fields: stage, target_cameras, target_websites, planned_start, started_on, target_date,
    completed_on, notes."""
    allowed = {"stage", "target_cameras", "target_websites", "planned_start", "started_on", "target_date",
               "completed_on", "notes"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not rollout fields: {', '.join(sorted(unknown))}")
    if "stage" in values:
        values["stage"] = RolloutStage(values["stage"]).value
    rollout = session.get(Rollout, regency)
    if rollout is None:
        raise LookupError(f"no regency {regency}")
    for key, value in values.items():
        setattr(rollout, key, value)
    rollout.updated_at = utcnow()
    rollout.updated_by = updated_by
    return rollout


# --- events and commands ------------------------------------------------------------------------


def recent_events(
    session: Session, *, limit: int = 50, regency: str | None = None, kind: str | None = None,
    camera_pk: int | None = None, before_id: int | None = None,
) -> list[Event]:
    """Newest first."""
    query = select(Event)
    if regency:
        query = query.where(Event.regency_code == regency)
    if kind:
        query = query.where(Event.kind == kind)
    if camera_pk is not None:
        query = query.where(Event.camera_pk == camera_pk)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return list(session.scalars(query.order_by(Event.id.desc()).limit(limit)))


def change_feed_position(session: Session) -> int:
    """The newest event id (0 when none): compare with the last one seen before reading more."""
    return session.scalar(select(func.max(Event.id))) or 0


def events_after(session: Session, after_id: int, *, limit: int = 200) -> list[Event]:
    """Events newer than ``after_id``, oldest first: what an SSE stream sends next."""
    return list(session.scalars(select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)))


def get_command(session: Session, command_id: str) -> CommandRecord | None:
    return session.scalar(select(CommandRecord).where(CommandRecord.command_id == command_id))


def recent_commands(session: Session, *, agent: str | None = None, camera_id: str | None = None, limit: int = 20) -> list[CommandRecord]:
    query = select(CommandRecord)
    if agent:
        query = query.where(CommandRecord.agent_name == agent)
    if camera_id:
        query = query.where(CommandRecord.camera_id == camera_id)
    return list(session.scalars(query.order_by(CommandRecord.id.desc()).limit(limit)))
