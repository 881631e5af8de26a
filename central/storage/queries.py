"""Read and write functions over the storage models for the web, the API, alerts and the ingest.

Reads take a Session and return model objects or small dataclasses; writes change rows in the caller's
session and leave committing to the caller (``with database.session() as s: ...`` commits).

Change feed: :func:`events_after` returns events with ``id > after_id`` in id order; ids become visible
in increasing order (PostgreSQL ingest workers serialize event inserts), so a poller that remembers
the last id it saw never misses one. :func:`change_feed_position` is the cheap "anything new?" probe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Select, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from central.storage import transitions
from central.storage.models import (
    Agent,
    Camera,
    CameraCheck,
    CameraStatusChange,
    CameraThumbnail,
    CommandRecord,
    Event,
    HostMetric,
    Regency,
    RegencyDaily,
    Rollout,
    RolloutStage,
    Website,
    WebsiteStatusChange,
    utc_now,
)
from shared.regencies import PROVINCE_CODE

CAMERA_STATES = ("ok", "degraded", "offline", "unknown")
WEBSITE_STATES = ("fresh", "stale", "down", "maintenance", "unknown")
UPTIME_WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}
CAMERA_UP = frozenset({"ok", "degraded"})  # the camera delivers a picture, even if slow or its clock is off
WEBSITE_AVAILABILITIES = ("up", "degraded", "down")
WEBSITE_UP = frozenset({"up", "degraded"})  # reachable, even if slow


# --- province and regencies ---------------------------------------------------------------------


@dataclass(slots=True)
class RegencyCounts:
    """Current counts for one owner (a regency, or the province's own offices): the one definition the
    overview tiles, the API and the public RegencySummary all read.

    A camera status or website state outside the known ones counts as unknown (grey): it never
    vanishes from the totals. "Reporting" is everything not unknown (a site in maintenance reports).
    """

    code: str
    name: str
    stored_stage: str = RolloutStage.PLANNED.value  # what operators recorded; see central.rollout
    target_cameras: int = 0
    target_websites: int = 0
    agents_online: int = 0
    agents_total: int = 0
    last_seen_at: dt.datetime | None = None  # the newest contact from any of its agents
    completed_on: dt.date | None = None  # the sign-off date operators recorded
    cameras_ok: int = 0
    cameras_degraded: int = 0
    cameras_offline: int = 0
    cameras_unknown: int = 0
    websites_fresh: int = 0
    websites_stale: int = 0
    websites_down: int = 0
    websites_maintenance: int = 0  # within an announced maintenance: neither up nor down
    websites_unknown: int = 0
    regency: Regency | None = field(default=None, repr=False)
    rollout: Rollout | None = field(default=None, repr=False)  # None: no plan recorded yet

    def add_cameras(self, status: str, count: int) -> None:
        field_name = f"cameras_{status}" if status in CAMERA_STATES else "cameras_unknown"
        setattr(self, field_name, getattr(self, field_name) + count)

    def add_websites(self, state: str, count: int) -> None:
        field_name = f"websites_{state}" if state in WEBSITE_STATES else "websites_unknown"
        setattr(self, field_name, getattr(self, field_name) + count)

    @property
    def cameras_by_status(self) -> dict[str, int]:
        return {"ok": self.cameras_ok, "degraded": self.cameras_degraded, "offline": self.cameras_offline,
                "unknown": self.cameras_unknown}

    @property
    def websites_by_state(self) -> dict[str, int]:
        return {"fresh": self.websites_fresh, "stale": self.websites_stale, "down": self.websites_down,
                "maintenance": self.websites_maintenance, "unknown": self.websites_unknown}

    @property
    def cameras_total(self) -> int:
        return self.cameras_reporting + self.cameras_unknown

    @property
    def websites_total(self) -> int:
        return self.websites_reporting + self.websites_unknown

    @property
    def cameras_reporting(self) -> int:
        return self.cameras_ok + self.cameras_degraded + self.cameras_offline

    @property
    def websites_reporting(self) -> int:
        return self.websites_fresh + self.websites_stale + self.websites_down + self.websites_maintenance


def regency_counts(
    session: Session, codes: set[str] | None = None, province_agents: Collection[str] = ()
) -> list[RegencyCounts]:
    """Per-regency camera statuses, website states, agents online and recorded rollout stage, in code order.

    Cameras count while in service (:attr:`Camera.in_service`): lost ones too, as offline. What the
    ``province_agents`` report belongs to the province's own offices (:func:`province_counts`), not to
    the regency on their certificate.
    """
    regency_filter = Regency.code.in_(codes) if codes else true()
    result = {
        regency.code: RegencyCounts(
            regency.code,
            regency.display_name,
            rollout.stage if rollout else RolloutStage.PLANNED.value,
            (rollout.target_cameras or 0) if rollout else 0,
            (rollout.target_websites or 0) if rollout else 0,
            completed_on=rollout.completed_on if rollout else None,
            regency=regency,
            rollout=rollout,
        )
        for regency, rollout in session.execute(
            select(Regency, Rollout)
            .outerjoin(Rollout, Rollout.regency_code == Regency.code)
            .where(regency_filter)
            .order_by(Regency.code)
        )
    }
    camera_filter = Camera.regency_code.in_(codes) if codes else true()
    for code, status, count in session.execute(
        select(Camera.regency_code, Camera.status, func.count())
        .where(camera_filter, Camera.in_service, Camera.agent_name.not_in(province_agents))
        .group_by(Camera.regency_code, Camera.status)
    ):
        if code in result:
            result[code].add_cameras(status, count)
    website_filter = Website.regency_code.in_(codes) if codes else true()
    for code, state, count in session.execute(
        select(Website.regency_code, Website.state, func.count())
        .where(website_filter, Website.agent_name.not_in(province_agents))
        .group_by(Website.regency_code, Website.state)
    ):
        if code in result:
            result[code].add_websites(state, count)
    agent_filter = Agent.regency_code.in_(codes) if codes else true()
    for code, total, online, last_seen in session.execute(
        select(
            Agent.regency_code,
            func.count(),
            func.sum(case((Agent.online.is_(True), 1), else_=0)),
            func.max(Agent.last_seen_at),
        )
        .where(agent_filter, Agent.revoked.is_(False), Agent.name.not_in(province_agents))
        .group_by(Agent.regency_code)
    ):
        if code in result:
            result[code].agents_total = total
            result[code].agents_online = int(online or 0)
            result[code].last_seen_at = aware_datetime(last_seen)
    return list(result.values())


def owner_code(agent_name: str, regency_code: str, province_agents: Collection[str]) -> str:
    """Whose a subject is, by the agent reporting it: the province's own offices (code "16") when that agent is
    one of ``province_agents``, else the regency on its certificate. The rule :func:`regency_counts` and
    :func:`province_counts` apply in SQL, for code that holds one row (alerts, reports)."""
    return PROVINCE_CODE if agent_name in province_agents else regency_code


def owned_by(
    regency_column: Any, agent_column: Any, codes: Collection[str], province_agents: Collection[str]
) -> ColumnElement[bool]:
    """SQL for ":func:`owner_code` is one of ``codes``" over a row's certificate regency and agent columns:
    a regency keeps what its agents report except the ``province_agents``' (theirs is "16"'s).

    Written as conditions on the plain columns rather than as one CASE, so the regency indexes still
    serve. A row without an agent (a regency-level event) is its regency's; "16" in ``codes`` matches
    only the ``province_agents``' rows, so nothing when none are configured.
    """
    agents = tuple(province_agents)
    regencies = [code for code in codes if code != PROVINCE_CODE]
    if not agents:
        return regency_column.in_(regencies)
    # NOT IN is NULL for a NULL agent, which a WHERE drops: a row without an agent stays its regency's.
    theirs = and_(regency_column.in_(regencies), or_(agent_column.is_(None), agent_column.not_in(agents)))
    return or_(theirs, agent_column.in_(agents)) if PROVINCE_CODE in codes else theirs


def province_counts(session: Session, code: str, name: str, agents: Collection[str]) -> RegencyCounts:
    """The province's own offices counted like a regency: whatever the named ``agents`` report."""
    result = RegencyCounts(code, name)
    for status, count in session.execute(
        select(Camera.status, func.count())
        .where(Camera.agent_name.in_(agents), Camera.in_service)
        .group_by(Camera.status)
    ):
        result.add_cameras(status, count)
    for state, count in session.execute(
        select(Website.state, func.count()).where(Website.agent_name.in_(agents)).group_by(Website.state)
    ):
        result.add_websites(state, count)
    total, online, last_seen = session.execute(
        select(
            func.count(), func.sum(case((Agent.online.is_(True), 1), else_=0)), func.max(Agent.last_seen_at)
        ).where(Agent.name.in_(agents), Agent.revoked.is_(False))
    ).one()
    result.agents_total, result.agents_online = int(total or 0), int(online or 0)
    result.last_seen_at = aware_datetime(last_seen)
    return result


def aware_datetime(value: object) -> dt.datetime | None:
    # func.max() bypasses the column's type on SQLite and hands back text or a naive datetime.
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def regency_agents(session: Session, regency: str) -> list[tuple[Agent, HostMetric | None]]:
    """A regency's agents by name, each with its newest host metrics."""
    agents = list(session.scalars(select(Agent).where(Agent.regency_code == regency).order_by(Agent.name)))
    result = []
    for agent in agents:
        metric = session.scalar(
            select(HostMetric).where(HostMetric.agent_name == agent.name).order_by(HostMetric.ts.desc()).limit(1)
        )
        result.append((agent, metric))
    return result


# --- cameras ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CameraFilter:
    regency: str | None = None
    within: Collection[str] | None = None  # the caller's regency scope; None: the whole province
    province_agents: Collection[str] = ()  # regency and within mean owners (owner_code) given these
    status: str | None = None
    opd: str | None = None
    group: str | None = None  # the operator's venue
    search: str | None = None


def _camera_conditions(filters: CameraFilter) -> list[ColumnExpressionArgument[bool]]:
    conditions: list[ColumnExpressionArgument[bool]] = [Camera.in_service]
    if filters.regency:
        conditions.append(owned_by(Camera.regency_code, Camera.agent_name, (filters.regency,), filters.province_agents))
    if filters.within is not None:
        conditions.append(owned_by(Camera.regency_code, Camera.agent_name, filters.within, filters.province_agents))
    if filters.status in CAMERA_STATES:
        conditions.append(Camera.status == filters.status)
    if filters.opd:
        conditions.append(Camera.opd == filters.opd)
    if filters.group:
        conditions.append(Camera.venue == filters.group)
    if filters.search:
        pattern = f"%{filters.search}%"
        conditions.append(
            or_(Camera.display_name.ilike(pattern), Camera.name.ilike(pattern), Camera.camera_id.ilike(pattern))
        )
    return conditions


def count_cameras(session: Session, filters: CameraFilter) -> int:
    return session.scalar(select(func.count()).select_from(Camera).where(*_camera_conditions(filters))) or 0


def list_cameras(session: Session, filters: CameraFilter, limit: int, offset: int = 0) -> list[Camera]:
    """Cameras in service matching ``filters``, worst status first."""
    # Worst first: what an operator has to act on is at the top of the grid.
    # Within a status, the longest in it first: the camera down since last week before the one down a minute.
    severity = case({"offline": 0, "degraded": 1, "unknown": 2}, value=Camera.status, else_=3)
    query = (
        select(Camera)
        .where(*_camera_conditions(filters))
        .order_by(severity, Camera.regency_code, Camera.status_since.is_(None), Camera.status_since, Camera.id)
    )
    return list(session.scalars(query.limit(limit).offset(offset)))


def longest_down(
    session: Session, limit: int, regency: str | None = None, within: Collection[str] | None = None
) -> list[Camera]:
    """Offline cameras in service, the longest offline first (for the overview and the wall)."""
    query = select(Camera).where(*_camera_conditions(CameraFilter(regency=regency, status="offline", within=within)))
    query = query.order_by(Camera.status_since.is_(None), Camera.status_since, Camera.id)
    return list(session.scalars(query.limit(limit)))


def camera_facets(
    session: Session, regency: str, province_agents: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """The OPDs and groups (venues) present in a regency, for its filter menus: of the cameras its list
    shows (by owner, :func:`owned_by`), so no menu offers a province office's OPD that filters to nothing."""
    base = select().where(owned_by(Camera.regency_code, Camera.agent_name, (regency,), province_agents), Camera.in_service)
    # Ordered by the label: PostgreSQL refuses DISTINCT ordered by the same expression written again.
    opd = Camera.opd.label("opd")
    opds = session.scalars(base.add_columns(opd).distinct().order_by(opd))
    groups = session.scalars(base.add_columns(Camera.venue).where(Camera.venue != "").distinct().order_by(Camera.venue))
    return [o for o in opds if o], list(groups)


def camera_groups(
    session: Session, within: Collection[str] | None = None, province_agents: Collection[str] = ()
) -> list[tuple[str, str]]:
    """(owner, venue) pairs that have cameras, for the wall's rotation by group: the owner as
    :func:`owner_code` says, so each pair's cameras are what ``CameraFilter(regency=owner, group=venue,
    province_agents=...)`` lists; ``within`` (the caller's scope) means owners too."""
    agents = tuple(province_agents)
    owner = case((Camera.agent_name.in_(agents), PROVINCE_CODE), else_=Camera.regency_code) if agents else Camera.regency_code
    scoped = owned_by(Camera.regency_code, Camera.agent_name, within, agents) if within is not None else true()
    query = select(owner, Camera.venue).where(Camera.venue != "", Camera.in_service, scoped).distinct().order_by(owner, Camera.venue)
    return [(code, venue) for code, venue in session.execute(query)]


def latest_check_details(session: Session, camera_pks: list[int]) -> dict[int, list[object]]:
    """The check outcomes of each camera's newest report (by measure time, then arrival), to word badges
    like 'clock 3 h off': the report its row's status comes from, since one that arrives out of order,
    older than it, goes into the history only (ingest/apply/camera_status.py).

    Each camera's newest is sought at the end of its (camera_pk, ts) index, one row per camera: the wall,
    a regency's page and a camera's ask it on every load. The newest by id alone read each camera's
    every check kept (30 days of them), the index holding no id order.
    """
    if not camera_pks:
        return {}
    newest = (
        select(CameraCheck.id)
        .where(CameraCheck.camera_pk == Camera.id)
        .order_by(CameraCheck.ts.desc(), CameraCheck.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    of_each = select(newest).where(Camera.id.in_(camera_pks))
    rows = session.execute(select(CameraCheck.camera_pk, CameraCheck.checks).where(CameraCheck.id.in_(of_each)))
    return {pk: list(checks or []) for pk, checks in rows}


def camera_timeline(
    session: Session, camera_pk: int | None, since: dt.datetime, until: dt.datetime | None = None
) -> list[CameraStatusChange]:
    """Status periods overlapping [since, until or now], oldest first, of one camera (None: of all).

    A camera's current period is open (ended_at None).
    """
    query = select(CameraStatusChange).where(
        or_(CameraStatusChange.ended_at.is_(None), CameraStatusChange.ended_at > since)
    )
    if camera_pk is not None:
        query = query.where(CameraStatusChange.camera_pk == camera_pk)
    if until is not None:
        query = query.where(CameraStatusChange.started_at < until)
    return list(session.scalars(query.order_by(CameraStatusChange.started_at, CameraStatusChange.id)))


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


def retire_camera(session: Session, camera_pk: int, *, retired_by: str = "", now: dt.datetime | None = None) -> Camera:
    """Take a camera out of every total, alert and report from now on; its history stays."""
    camera = session.get(Camera, camera_pk)
    if camera is None:
        raise LookupError(f"no camera {camera_pk}")
    if camera.retired_at is None:
        camera.retired_at = now or utc_now()
        camera.retired_by = retired_by
        transitions.camera_retired(session.connection(), camera, camera.retired_at, retired_by)
        session.flush()
    return camera


# --- thumbnails ---------------------------------------------------------------------------------


_Ts = TypeVarTuple("_Ts")


def _newest_thumbnail(query: Select[*_Ts], camera_pk: int) -> Select[*_Ts]:
    return (
        query.where(CameraThumbnail.camera_pk == camera_pk)
        .order_by(CameraThumbnail.captured_at.desc(), CameraThumbnail.id.desc())
        .limit(1)
    )


def latest_thumbnail(session: Session, camera_pk: int) -> CameraThumbnail | None:
    """The newest thumbnail (``.jpeg`` holds the bytes, ``.captured_at`` the time)."""
    return session.scalar(_newest_thumbnail(select(CameraThumbnail), camera_pk))


def latest_thumbnail_meta(session: Session, camera_pk: int) -> tuple[str, dt.datetime] | None:
    """sha256 and capture time of the newest thumbnail, without loading the JPEG."""
    row = session.execute(
        _newest_thumbnail(select(CameraThumbnail.sha256, CameraThumbnail.captured_at), camera_pk)
    ).first()
    return (row[0], row[1]) if row else None


def latest_thumbnail_shas(session: Session, camera_pks: list[int]) -> dict[int, str]:
    """Each camera's newest thumbnail hash: image URLs carry it, so browsers cache each JPEG forever."""
    if not camera_pks:
        return {}
    newest = (
        select(func.max(CameraThumbnail.id))
        .where(CameraThumbnail.camera_pk.in_(camera_pks))
        .group_by(CameraThumbnail.camera_pk)
    )
    rows = session.execute(select(CameraThumbnail.camera_pk, CameraThumbnail.sha256).where(CameraThumbnail.id.in_(newest)))
    return {pk: sha for pk, sha in rows}


def camera_ids_with_thumbnails(session: Session, camera_pks: list[int]) -> set[int]:
    if not camera_pks:
        return set()
    query = select(CameraThumbnail.camera_pk).where(CameraThumbnail.camera_pk.in_(camera_pks)).distinct()
    return set(session.scalars(query))


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
    now = now or utc_now()
    periods = [(p.status, p.started_at, p.ended_at) for p in camera_timeline(session, camera_pk, now - UPTIME_WINDOWS["30d"])]
    return {name: share_up(periods, now - span, now, CAMERA_UP) for name, span in UPTIME_WINDOWS.items()}


def website_uptimes(
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
        periods[p.website_pk].append((website_availability(p.availability), p.started_at, p.ended_at))
    return {pk: share_up(rows, since, now, WEBSITE_UP) for pk, rows in periods.items()}


def website_availability(availability: str) -> str:
    """A period's availability for uptime: up/degraded/down, anything else (never checked, silent) unknown.

    Uptime is about reachability only, like cameras' (ok or degraded = up): a site that is up but stale
    is up; how fresh its content is has a state and alerts of its own.
    """
    return availability if availability in WEBSITE_AVAILABILITIES else "unknown"


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


def _ratio(up: float, down: float) -> float | None:
    return up / (up + down) if up + down > 0 else None


# --- websites -----------------------------------------------------------------------------------


# Worst first: down, then stale, then not yet known, then fresh.
WEBSITE_STATE_ORDER = {"down": 0, "stale": 1, "unknown": 2, "fresh": 3}


def websites_query(
    regency: str | None = None,
    state: str | None = None,
    province_agents: Collection[str] = (),
    province: bool = False,
    within: Collection[str] | None = None,
) -> Select[Website]:
    """Websites of a regency (or of the province's own offices) and/or in one state, worst kept first.

    Worst first: by state (down, stale, unknown, fresh), then longest in that state, then the oldest
    content. ``province_agents`` report for the province's own offices: ``regency`` and ``within`` (the
    caller's scope) mean owners (:func:`owned_by`), so a regency's list leaves theirs out, and
    ``regency="16"`` or ``province=True`` lists only theirs.
    """
    query = select(Website)
    if province:
        query = query.where(Website.agent_name.in_(province_agents))
    elif regency:
        query = query.where(owned_by(Website.regency_code, Website.agent_name, (regency,), province_agents))
    if within is not None:  # the caller's regency scope
        query = query.where(owned_by(Website.regency_code, Website.agent_name, within, province_agents))
    if state in WEBSITE_STATES:
        query = query.where(Website.state == state)
    state_rank = case(WEBSITE_STATE_ORDER, value=Website.state, else_=len(WEBSITE_STATE_ORDER))
    return query.order_by(
        state_rank,
        Website.status_since.is_(None),
        Website.status_since,
        Website.last_update.is_(None),
        Website.last_update,
        Website.id,
    )


def count_websites(
    session: Session,
    regency: str | None = None,
    state: str | None = None,
    within: Collection[str] | None = None,
    province_agents: Collection[str] = (),
) -> int:
    inner = websites_query(regency, state, province_agents, within=within).order_by(None).subquery()
    return session.scalar(select(func.count()).select_from(inner)) or 0


# --- rollout ------------------------------------------------------------------------------------


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
    rollout.updated_at = utc_now()
    rollout.updated_by = updated_by
    return rollout


# --- events and commands ------------------------------------------------------------------------


def recent_events(
    session: Session, *, limit: int = 50, regency: str | None = None, kind: str | None = None,
    camera_pk: int | None = None, before_id: int | None = None, within: Collection[str] | None = None,
    province_agents: Collection[str] = (),
) -> list[Event]:
    """Newest first; ``within`` limits to those regencies (the caller's scope). Given ``province_agents``,
    ``regency`` and ``within`` mean owners (:func:`owned_by`): their agents' events are "16"'s."""
    query = select(Event)
    if regency:
        query = query.where(owned_by(Event.regency_code, Event.agent_name, (regency,), province_agents))
    if within is not None:
        query = query.where(owned_by(Event.regency_code, Event.agent_name, within, province_agents))
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
    """Newest first, optionally for one agent and/or one of its cameras."""
    query = select(CommandRecord)
    if agent:
        query = query.where(CommandRecord.agent_name == agent)
    if camera_id:
        query = query.where(CommandRecord.camera_id == camera_id)
    return list(session.scalars(query.order_by(CommandRecord.id.desc()).limit(limit)))
