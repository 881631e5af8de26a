"""Every change of a camera's or website's state on central: the period it ends, the one it opens, its event.

Where state is decided: an agent decides a camera's status from its checks (``edge_agent/status.py``)
and a website's availability and freshness from its own (``edge_agent/websites``); central stores what
they report. Central itself changes a state in only these cases, each a function or method here:

- a report with another state (ingest, :meth:`Transitions.camera` / :meth:`Transitions.website`);
- cameras their agent no longer discovers go offline (lost) (:func:`cameras_lost`);
- an agent goes offline: its cameras go unknown (agent_offline) (:func:`cameras_unknown`);
- nothing heard for too long: unknown (no_report) (:func:`cameras_unknown`, :func:`websites_unknown`,
  called by the silence sweep in ``storage/maintenance.py``);
- an operator retires a camera (:func:`camera_retired`: an event; its state stays as it was).

Each change ends the subject's open status period, opens the next one and writes an event (the change
feed the web, alerts and reports follow), and marks the subject for public republishing
(:class:`Republish`; ``central/ingest/public.py`` stages those after the commit). A period opened
earlier in the same transaction is still in memory (:class:`Period`) and is ended there, so a batch
with several changes of one camera writes each period once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, cast

from sqlalchemy import Connection, Table, and_, bindparam, update

from central.storage.db import chunked, lock_event_ids
from central.storage.models import (
    LOST_REASON,
    NO_REPORT_REASON,
    Camera,
    CameraStatusChange,
    Event,
    EventKind,
    Website,
    WebsiteState,
    WebsiteStatusChange,
)
from central.storage.text import clean_text
from shared.messages import CameraState, Freshness

AGENT_OFFLINE_REASON = "agent_offline"

cameras = cast(Table, Camera.__table__)
websites = cast(Table, Website.__table__)
camera_periods = cast(Table, CameraStatusChange.__table__)
website_periods = cast(Table, WebsiteStatusChange.__table__)
events_table = cast(Table, Event.__table__)

_CLOSE_CAMERA_PERIOD = (
    update(camera_periods)
    .where(and_(camera_periods.c.camera_pk == bindparam("b_pk"), camera_periods.c.ended_at.is_(None)))
    .values(ended_at=bindparam("b_end"), duration_s=bindparam("b_duration"))
)
_CLOSE_WEBSITE_PERIOD = (
    update(website_periods)
    .where(and_(website_periods.c.website_pk == bindparam("b_pk"), website_periods.c.ended_at.is_(None)))
    .values(ended_at=bindparam("b_end"), duration_s=bindparam("b_duration"))
)


@dataclass(slots=True)
class Period:
    """A status period opened in this transaction and not written yet: a later change ends it in memory."""

    pk: int
    state: str
    reason: str
    message: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    duration_s: float | None = None

    def end(self, at: dt.datetime) -> None:
        self.ended_at = at
        self.duration_s = max(0.0, (at - self.started_at).total_seconds())


@dataclass(slots=True)
class WebsitePeriod(Period):
    availability: str = ""
    freshness: str = ""


class Tracked(Protocol):
    """What a change needs of a camera's or website's row: its key, since when it is in its state, and
    the period this transaction already opened for it (if any)."""

    id: int
    status_since: dt.datetime | None
    open_period: Period | None


@dataclass(slots=True)
class Republish:
    """Whose public state must be staged again after the commit, and which regencies' summaries."""

    cameras: set[int] = field(default_factory=set)
    websites: set[int] = field(default_factory=set)
    regencies: set[str] = field(default_factory=set)


class EventRow(TypedDict):
    """One row of the change feed (``events``), as inserted."""

    ts: dt.datetime
    created_at: dt.datetime
    kind: str
    regency_code: str | None
    agent_name: str | None
    camera_pk: int | None
    website_pk: int | None
    subject: str
    old_state: str
    new_state: str
    reason: str
    message: str


def event_row(
    kind: EventKind, ts: dt.datetime, regency: str | None, agent: str | None, subject: str, *, old: str = "",
    new: str = "", reason: str = "", message: str = "", camera_pk: int | None = None,
    website_pk: int | None = None, created_at: dt.datetime | None = None,
) -> EventRow:
    """One row of the change feed (``events``)."""
    return {
        "ts": ts, "created_at": created_at or dt.datetime.now(dt.UTC), "kind": kind.value, "regency_code": regency,
        "agent_name": agent, "camera_pk": camera_pk, "website_pk": website_pk, "subject": subject[:64],
        "old_state": old, "new_state": new, "reason": reason, "message": clean_text(message[:2048]),
    }


def write_events(conn: Connection, events: list[EventRow]) -> None:
    if events:
        lock_event_ids(conn)
        conn.execute(events_table.insert(), events)


class Transitions:
    """The state changes of one transaction: periods to end and open, events, and what to republish.

    Callers change the subject's own row (status, reason, since) themselves, in the same transaction:
    the ingest folds that into the one UPDATE per report it runs anyway.
    """

    def __init__(self, republish: Republish | None = None) -> None:
        self.republish = republish if republish is not None else Republish()
        self.events: list[EventRow] = []
        self._camera_closes: list[dict[str, Any]] = []
        self._camera_opens: list[Period] = []
        self._website_closes: list[dict[str, Any]] = []
        self._website_opens: list[WebsitePeriod] = []

    def camera(self, row: Tracked, status: str, reason: str, message: str, at: dt.datetime) -> None:
        """End the camera's current period at ``at`` and open one in ``status`` (written by :meth:`write_periods`)."""
        period = Period(row.id, status, reason, message, at)
        self._close(row, at, self._camera_closes)
        self._camera_opens.append(period)
        row.open_period = period

    def website(
        self, row: Tracked, state: str, availability: str, freshness: str, reason: str, message: str, at: dt.datetime
    ) -> None:
        """As :meth:`camera`, for a website (its period keeps availability and freshness too)."""
        period = WebsitePeriod(row.id, state, reason, message, at, availability=availability, freshness=freshness)
        self._close(row, at, self._website_closes)
        self._website_opens.append(period)
        row.open_period = period

    @staticmethod
    def _close(row: Tracked, at: dt.datetime, closes: list[dict[str, Any]]) -> None:
        pending = row.open_period
        if pending is not None:  # opened earlier in this transaction: end it in memory
            pending.end(at)
        elif row.status_since is not None:
            closes.append({"b_pk": row.id, "b_end": at, "b_duration": max(0.0, (at - row.status_since).total_seconds())})

    def write_periods(self, conn: Connection) -> None:
        """End the periods, then insert the new ones (in that order: the end matches ``ended_at IS NULL``)."""
        if self._camera_closes:
            conn.execute(_CLOSE_CAMERA_PERIOD, self._camera_closes)
        if self._camera_opens:
            conn.execute(camera_periods.insert(), [
                {"camera_pk": p.pk, "status": p.state, "reason": p.reason, "message": p.message,
                 "started_at": p.started_at, "ended_at": p.ended_at, "duration_s": p.duration_s}
                for p in self._camera_opens
            ])
        if self._website_closes:
            conn.execute(_CLOSE_WEBSITE_PERIOD, self._website_closes)
        if self._website_opens:
            conn.execute(website_periods.insert(), [
                {"website_pk": p.pk, "state": p.state, "availability": p.availability, "freshness": p.freshness,
                 "reason": p.reason, "message": p.message, "started_at": p.started_at, "ended_at": p.ended_at,
                 "duration_s": p.duration_s}
                for p in self._website_opens
            ])
        self._camera_closes, self._camera_opens = [], []
        self._website_closes, self._website_opens = [], []

    def write_events(self, conn: Connection) -> None:
        write_events(conn, self.events)
        self.events = []


# --- the changes central makes itself --------------------------------------------------------------


@dataclass(slots=True)
class CameraNow:
    """A camera as a change central makes needs it."""

    id: int
    camera_id: str
    regency_code: str
    status: str
    status_since: dt.datetime | None
    open_period: Period | None = None


def cameras_lost(
    conn: Connection, transitions: Transitions, rows: Sequence[CameraNow], agent: str, at: dt.datetime
) -> None:
    """Cameras their agent no longer discovers are offline (reason lost) until found again or retired.

    One statement per kind of write whatever the number of cameras: an inventory may lose thousands.
    """
    if not rows:
        return
    offline = CameraState.OFFLINE.value
    changed = [camera for camera in rows if camera.status != offline or camera.status_since is None]
    for camera in changed:
        transitions.camera(camera, offline, LOST_REASON, "", at)
        transitions.events.append(event_row(
            EventKind.CAMERA_STATUS, at, camera.regency_code, agent, camera.camera_id,
            old=camera.status if camera.status_since else "", new=offline, reason=LOST_REASON, camera_pk=camera.id,
        ))
    transitions.write_periods(conn)
    values = {"status": offline, "reason": LOST_REASON, "message": "", "updated_at": at}
    pks = [camera.id for camera in changed]
    changed_pks = set(pks)
    for chunk in chunked(pks):
        conn.execute(update(cameras).where(cameras.c.id.in_(chunk)).values(**values, status_since=at))
    unchanged = [camera.id for camera in rows if camera.id not in changed_pks]
    for chunk in chunked(unchanged):
        conn.execute(update(cameras).where(cameras.c.id.in_(chunk)).values(**values))
    transitions.republish.cameras.update(camera.id for camera in rows)
    transitions.republish.regencies.update(camera.regency_code for camera in rows)


def cameras_unknown(
    conn: Connection, transitions: Transitions, rows: Sequence[CameraNow], agent_of: Sequence[str], reason: str,
    at: dt.datetime, *, regency: str | None = None, created_at: dt.datetime | None = None,
) -> None:
    """Nobody knows these cameras' status from ``at`` on (their agent went offline, or they fell silent).

    ``agent_of`` is each row's agent; the events carry ``regency`` when given (the agent's, from the
    registry), else each camera's own.
    """
    if not rows:
        return
    unknown = CameraState.UNKNOWN.value
    for camera, agent in zip(rows, agent_of, strict=True):
        transitions.camera(camera, unknown, reason, "", at)
        transitions.events.append(event_row(
            EventKind.CAMERA_STATUS, at, regency or camera.regency_code, agent, camera.camera_id, old=camera.status,
            new=unknown, reason=reason, camera_pk=camera.id, created_at=created_at,
        ))
    transitions.write_periods(conn)
    conn.execute(update(cameras).where(cameras.c.id.in_([camera.id for camera in rows])).values(
        status=unknown, reason=reason, message="", status_since=at, updated_at=at))
    transitions.republish.cameras.update(camera.id for camera in rows)


@dataclass(slots=True)
class WebsiteNow:
    """A website as a change central makes needs it."""

    id: int
    website_id: str
    regency_code: str
    agent_name: str
    state: str
    status_since: dt.datetime | None
    open_period: Period | None = None


def websites_unknown(conn: Connection, transitions: Transitions, rows: Sequence[WebsiteNow], at: dt.datetime) -> None:
    """Nothing heard from these websites for too long: unknown (no_report) from ``at`` on."""
    if not rows:
        return
    # Availability is not known either: empty, as before a site's first report (uptime leaves it out).
    state, availability, freshness = WebsiteState.UNKNOWN.value, "", Freshness.UNKNOWN.value
    for site in rows:
        transitions.website(site, state, availability, freshness, NO_REPORT_REASON, "", at)
        transitions.events.append(event_row(
            EventKind.WEBSITE_STATUS, at, site.regency_code, site.agent_name, site.website_id, old=site.state,
            new=state, reason=NO_REPORT_REASON, website_pk=site.id, created_at=at,
        ))
    transitions.write_periods(conn)
    conn.execute(update(websites).where(websites.c.id.in_([site.id for site in rows])).values(
        state=state, availability=availability, freshness=freshness, reason=NO_REPORT_REASON, message="",
        status_since=at, updated_at=at))
    transitions.republish.websites.update(site.id for site in rows)


def camera_retired(
    conn: Connection, camera: Camera, at: dt.datetime, retired_by: str
) -> None:
    """An operator took the camera out of every total: its status stays, the change feed says so.

    The event moves the change feed, so every process's cached rollup drops the camera at once; its
    retained public topic is cleared by the ingest's maintenance (``public.stage_retired_cameras``).
    """
    write_events(conn, [event_row(
        EventKind.CAMERA_RETIRED, at, camera.regency_code, camera.agent_name, camera.camera_id,
        old=camera.status, new="retired", message=retired_by, camera_pk=camera.id, created_at=at,
    )])
