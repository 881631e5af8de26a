"""Read-only queries the pages and the API need beyond the rollup: lists, details, history, uptime."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from central.storage.models import (
    Agent,
    Camera,
    CameraCheck,
    CameraStatusChange,
    CameraThumbnail,
    CommandRecord,
    Event,
    HostMetric,
    Website,
    WebsiteStatusChange,
)

CAMERA_STATES = ("ok", "degraded", "offline", "unknown")
WEBSITE_STATES = ("fresh", "stale", "down", "unknown")
UPTIME_WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}


@dataclass(frozen=True, slots=True)
class CameraFilter:
    regency: str | None = None
    status: str | None = None
    opd: str | None = None
    group: str | None = None
    search: str | None = None


def camera_conditions(filters: CameraFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Camera.lost_at.is_(None)]
    if filters.regency:
        conditions.append(Camera.regency_code == filters.regency)
    if filters.status in CAMERA_STATES:
        conditions.append(Camera.status == filters.status)
    if filters.opd:
        conditions.append(
            or_(
                Camera.owner_opd == filters.opd,
                and_(Camera.owner_opd == "", Camera.reported_opd == filters.opd),
            )
        )
    if filters.group:
        conditions.append(Camera.venue == filters.group)
    if filters.search:
        pattern = f"%{filters.search}%"
        conditions.append(
            or_(
                Camera.display_name.ilike(pattern),
                Camera.name.ilike(pattern),
                Camera.camera_id.ilike(pattern),
            )
        )
    return conditions


def cameras_query(filters: CameraFilter) -> Select[Camera]:
    # Worst first: what an operator has to act on is at the top of the grid.
    severity = case({"offline": 0, "degraded": 1, "unknown": 2}, value=Camera.status, else_=3)
    return (
        select(Camera).where(*camera_conditions(filters)).order_by(severity, Camera.regency_code, Camera.id)
    )


def count_cameras(session: Session, filters: CameraFilter) -> int:
    return session.scalar(select(func.count()).select_from(Camera).where(*camera_conditions(filters))) or 0


def list_cameras(session: Session, filters: CameraFilter, limit: int, offset: int = 0) -> list[Camera]:
    return list(session.scalars(cameras_query(filters).limit(limit).offset(offset)))


def camera_facets(session: Session, regency: str) -> tuple[list[str], list[str]]:
    """The OPDs and groups (venues) present in a regency, for its filter menus."""
    opd = func.coalesce(func.nullif(Camera.owner_opd, ""), Camera.reported_opd)
    base = select().where(Camera.regency_code == regency, Camera.lost_at.is_(None))
    opds = session.scalars(base.add_columns(opd).distinct().order_by(opd))
    groups = session.scalars(
        base.add_columns(Camera.venue).where(Camera.venue != "").distinct().order_by(Camera.venue)
    )
    return [o for o in opds if o], list(groups)


def latest_check_details(session: Session, camera_pks: list[int]) -> dict[int, list[object]]:
    """The check outcomes of each camera's newest report, to word badges like 'clock 3 h off'."""
    if not camera_pks:
        return {}
    newest = (
        select(func.max(CameraCheck.id))
        .where(CameraCheck.camera_pk.in_(camera_pks))
        .group_by(CameraCheck.camera_pk)
    )
    rows = session.execute(
        select(CameraCheck.camera_pk, CameraCheck.checks).where(CameraCheck.id.in_(newest))
    )
    return {pk: list(checks or []) for pk, checks in rows}


def camera_ids_with_thumbnails(session: Session, camera_pks: list[int]) -> set[int]:
    if not camera_pks:
        return set()
    query = select(CameraThumbnail.camera_pk).where(CameraThumbnail.camera_pk.in_(camera_pks)).distinct()
    return set(session.scalars(query))


def latest_thumbnail(session: Session, camera_pk: int) -> CameraThumbnail | None:
    query = (
        select(CameraThumbnail)
        .where(CameraThumbnail.camera_pk == camera_pk)
        .order_by(CameraThumbnail.captured_at.desc(), CameraThumbnail.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def latest_thumbnail_meta(session: Session, camera_pk: int) -> tuple[str, dt.datetime] | None:
    """sha256 and capture time of the newest thumbnail, without loading the JPEG."""
    query = (
        select(CameraThumbnail.sha256, CameraThumbnail.captured_at)
        .where(CameraThumbnail.camera_pk == camera_pk)
        .order_by(CameraThumbnail.captured_at.desc(), CameraThumbnail.id.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    return (row[0], row[1]) if row else None


def regency_agents(session: Session, regency: str) -> list[tuple[Agent, HostMetric | None]]:
    agents = list(session.scalars(select(Agent).where(Agent.regency_code == regency).order_by(Agent.name)))
    result = []
    for agent in agents:
        metric = session.scalar(
            select(HostMetric)
            .where(HostMetric.agent_name == agent.name)
            .order_by(HostMetric.ts.desc())
            .limit(1)
        )
        result.append((agent, metric))
    return result


def websites_query(regency: str | None = None, state: str | None = None) -> Select[Website]:
    query = select(Website)
    if regency:
        query = query.where(Website.regency_code == regency)
    if state in WEBSITE_STATES:
        query = query.where(Website.state == state)
    return query.order_by(Website.regency_code, Website.id)


def count_websites(session: Session, regency: str | None = None, state: str | None = None) -> int:
    inner = websites_query(regency, state).order_by(None).subquery()
    return session.scalar(select(func.count()).select_from(inner)) or 0


def status_periods(session: Session, camera_pk: int, since: dt.datetime) -> list[CameraStatusChange]:
    query = (
        select(CameraStatusChange)
        .where(
            CameraStatusChange.camera_pk == camera_pk,
            or_(CameraStatusChange.ended_at.is_(None), CameraStatusChange.ended_at > since),
        )
        .order_by(CameraStatusChange.started_at)
    )
    return list(session.scalars(query))


def website_periods(session: Session, website_pk: int, since: dt.datetime) -> list[WebsiteStatusChange]:
    query = (
        select(WebsiteStatusChange)
        .where(
            WebsiteStatusChange.website_pk == website_pk,
            or_(WebsiteStatusChange.ended_at.is_(None), WebsiteStatusChange.ended_at > since),
        )
        .order_by(WebsiteStatusChange.started_at)
    )
    return list(session.scalars(query))


def uptime(
    periods: list[tuple[str, dt.datetime, dt.datetime | None]],
    since: dt.datetime,
    now: dt.datetime,
    up: set[str],
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


def camera_uptimes(session: Session, camera_pk: int, now: dt.datetime) -> dict[str, float | None]:
    since = now - max(UPTIME_WINDOWS.values())
    periods = [(p.status, p.started_at, p.ended_at) for p in status_periods(session, camera_pk, since)]
    # "Up" means the camera delivers a picture: degraded (slow, clock off) still counts.
    return {
        name: uptime(periods, now - span, now, {"ok", "degraded"}) for name, span in UPTIME_WINDOWS.items()
    }


def website_uptimes(session: Session, website_pk: int, now: dt.datetime) -> dict[str, float | None]:
    since = now - max(UPTIME_WINDOWS.values())
    periods = [
        (p.availability or p.state, p.started_at, p.ended_at)
        for p in website_periods(session, website_pk, since)
    ]
    return {
        name: uptime(periods, now - span, now, {"up", "degraded"}) for name, span in UPTIME_WINDOWS.items()
    }


def website_uptimes_bulk(
    session: Session, website_pks: list[int], now: dt.datetime, span: dt.timedelta
) -> dict[int, float | None]:
    """One window's uptime for many websites in one query."""
    if not website_pks:
        return {}
    since = now - span
    query = select(WebsiteStatusChange).where(
        WebsiteStatusChange.website_pk.in_(website_pks),
        or_(WebsiteStatusChange.ended_at.is_(None), WebsiteStatusChange.ended_at > since),
    )
    periods: dict[int, list[tuple[str, dt.datetime, dt.datetime | None]]] = {pk: [] for pk in website_pks}
    for p in session.scalars(query):
        periods[p.website_pk].append((p.availability or p.state, p.started_at, p.ended_at))
    return {pk: uptime(rows, since, now, {"up", "degraded"}) for pk, rows in periods.items()}


def events_query(
    regency: str | None = None,
    camera_pk: int | None = None,
    kind: str | None = None,
    before_id: int | None = None,
) -> Select[Event]:
    query = select(Event)
    if regency:
        query = query.where(Event.regency_code == regency)
    if camera_pk is not None:
        query = query.where(Event.camera_pk == camera_pk)
    if kind:
        query = query.where(Event.kind == kind)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return query.order_by(Event.id.desc())


def recent_events(session: Session, limit: int = 20, **filters: object) -> list[Event]:
    return list(session.scalars(events_query(**filters).limit(limit)))  # type: ignore[arg-type]


def latest_event_id(session: Session) -> int:
    return session.scalar(select(func.max(Event.id))) or 0


def events_after(session: Session, after_id: int, limit: int = 200) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)))


def camera_commands(session: Session, camera: Camera, limit: int = 5) -> list[CommandRecord]:
    query = (
        select(CommandRecord)
        .where(CommandRecord.agent_name == camera.agent_name, CommandRecord.camera_id == camera.camera_id)
        .order_by(CommandRecord.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def latest_thumbnail_shas(session: Session, camera_pks: list[int]) -> dict[int, str]:
    """Each camera's newest thumbnail hash: image URLs carry it, so browsers cache each JPEG forever."""
    if not camera_pks:
        return {}
    newest = (
        select(func.max(CameraThumbnail.id))
        .where(CameraThumbnail.camera_pk.in_(camera_pks))
        .group_by(CameraThumbnail.camera_pk)
    )
    rows = session.execute(
        select(CameraThumbnail.camera_pk, CameraThumbnail.sha256).where(CameraThumbnail.id.in_(newest))
    )
    return {pk: sha for pk, sha in rows}


def camera_groups(session: Session) -> list[tuple[str, str]]:
    """(regency, venue) pairs that have cameras, for the wall's rotation by group."""
    query = (
        select(Camera.regency_code, Camera.venue)
        .where(Camera.venue != "", Camera.lost_at.is_(None))
        .distinct()
        .order_by(Camera.regency_code, Camera.venue)
    )
    return [(code, venue) for code, venue in session.execute(query)]
