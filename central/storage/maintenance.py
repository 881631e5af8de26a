"""Maintenance: daily uptime rollups from status periods, silent devices marked unknown, raw-data retention.

Daily rows are recomputed from scratch for the days asked (idempotent, so any number of ingest workers
may run this, and a crash just means the next run redoes the day). Status periods and daily rows are
kept; raw check results, metrics, dedupe ids, quarantine and events go after the retention period.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, case, delete, func, or_, select

from central.storage import transitions
from central.storage.db import chunked
from central.storage.models import (
    NO_REPORT_REASON,
    Camera,
    CameraCheck,
    CameraDaily,
    CameraStatusChange,
    Event,
    HostMetric,
    IngestedMessage,
    QuarantinedMessage,
    RegencyDaily,
    Website,
    WebsiteCheck,
    WebsiteDaily,
    WebsiteState,
    WebsiteStatusChange,
)
from central.storage.queries import WEBSITE_UP, aware_datetime, website_availability
from shared.messages import CameraState

log = logging.getLogger(__name__)

# A website is silent after this many of its check intervals without a report (and ``silence``).
SILENT_INTERVALS = 3


def _t(model: Any) -> Table:
    return cast(Table, model.__table__)


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """UTC start and end of a local calendar day."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def local_day(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def update_daily(conn: Connection, day: dt.date, tz: ZoneInfo, now: dt.datetime) -> None:
    """Recompute CameraDaily, WebsiteDaily and RegencyDaily for one local day (up to ``now``).

    Every ingest worker runs it each maintenance round (a minute) for two days, holding the write turn,
    so it reads what the day needs, not the history kept: the periods overlapping the day by ended_at's
    index (open, or ended after the day began; by started_at alone every period ever kept), and the
    day's checks of the subjects it found by their (subject, ts) index, their pks listed so that SQLite
    and PostgreSQL both seek each one's day (by ts alone SQLite read that whole index and PostgreSQL
    the whole table: every check kept, 30 days of them).
    """
    start, end = day_bounds(day, tz)
    end = min(end, now)
    if end <= start:
        return
    camera_rows = _camera_daily(conn, start, end)
    website_rows = _website_daily(conn, start, end)
    for table, rows in ((_t(CameraDaily), camera_rows), (_t(WebsiteDaily), website_rows)):
        conn.execute(delete(table).where(table.c.day == day))
        if rows:
            conn.execute(table.insert(), [{**row, "day": day} for row in rows.values()])
    _regency_daily(conn, day, camera_rows, website_rows)


def _overlap(start: dt.datetime, end: dt.datetime, began: dt.datetime, ended: dt.datetime | None) -> float:
    return max(0.0, (min(ended or end, end) - max(began, start)).total_seconds())


def _camera_daily(conn: Connection, start: dt.datetime, end: dt.datetime) -> dict[int, dict[str, Any]]:
    changes = _t(CameraStatusChange)
    rows: dict[int, dict[str, Any]] = defaultdict(dict)
    periods = conn.execute(
        select(changes.c.camera_pk, changes.c.status, changes.c.started_at, changes.c.ended_at).where(
            changes.c.started_at < end, or_(changes.c.ended_at.is_(None), changes.c.ended_at > start)
        )
    )
    for pk, status, began, ended in periods:
        row = rows[pk]
        if not row:
            row.update(camera_pk=pk, seconds_ok=0.0, seconds_degraded=0.0, seconds_offline=0.0,
                       seconds_unknown=0.0, checks_total=0, checks_ok=0)
        key = f"seconds_{status}" if status in ("ok", "degraded", "offline") else "seconds_unknown"
        row[key] += _overlap(start, end, began, ended)
    checks = _t(CameraCheck)
    ok = func.sum(case((checks.c.status == "ok", 1), else_=0))
    for chunk in chunked(list(rows), CHUNK):
        for pk, total, good in conn.execute(
            select(checks.c.camera_pk, func.count(), ok)
            .where(checks.c.camera_pk.in_(chunk), checks.c.ts >= start, checks.c.ts < end)
            .group_by(checks.c.camera_pk)
        ):
            rows[pk]["checks_total"] = total
            rows[pk]["checks_ok"] = int(good or 0)
    return rows


def _website_daily(conn: Connection, start: dt.datetime, end: dt.datetime) -> dict[int, dict[str, Any]]:
    changes = _t(WebsiteStatusChange)
    rows: dict[int, dict[str, Any]] = defaultdict(dict)
    periods = conn.execute(
        select(changes.c.website_pk, changes.c.availability, changes.c.state, changes.c.started_at, changes.c.ended_at)
        .where(changes.c.started_at < end, or_(changes.c.ended_at.is_(None), changes.c.ended_at > start))
    )
    for pk, availability, state, began, ended in periods:
        availability = website_availability(availability)
        row = rows[pk]
        if not row:
            row.update(website_pk=pk, seconds_up=0.0, seconds_degraded=0.0, seconds_down=0.0, seconds_unknown=0.0,
                       seconds_fresh=0.0, checks_total=0, checks_up=0)
        seconds = _overlap(start, end, began, ended)
        key = f"seconds_{availability}"
        row[key] += seconds
        if state == "fresh":
            row["seconds_fresh"] += seconds
    checks = _t(WebsiteCheck)
    up = func.sum(case((checks.c.availability.in_(WEBSITE_UP), 1), else_=0))
    for chunk in chunked(list(rows), CHUNK):
        for pk, total, good in conn.execute(
            select(checks.c.website_pk, func.count(), up)
            .where(checks.c.website_pk.in_(chunk), checks.c.ts >= start, checks.c.ts < end)
            .group_by(checks.c.website_pk)
        ):
            rows[pk]["checks_total"] = total
            rows[pk]["checks_up"] = int(good or 0)
    return rows


# Subjects per "pk IN (...)": well under SQLite's 32766 bound parameters, whatever the province's size.
CHUNK = 5000


def _regency_daily(
    conn: Connection, day: dt.date, camera_rows: dict[int, dict[str, Any]], website_rows: dict[int, dict[str, Any]]
) -> None:
    cameras, websites = _t(Camera), _t(Website)
    camera_regency = dict(conn.execute(select(cameras.c.id, cameras.c.regency_code)).all()) if camera_rows else {}
    website_regency = dict(conn.execute(select(websites.c.id, websites.c.regency_code)).all()) if website_rows else {}
    totals: dict[str, dict[str, Any]] = {}

    def total(code: str) -> dict[str, Any]:
        if code not in totals:
            totals[code] = {"regency_code": code, "day": day, "cameras": 0, "websites": 0, **{
                key: 0.0 for key in ("camera_seconds_ok", "camera_seconds_degraded", "camera_seconds_offline",
                                     "camera_seconds_unknown", "website_seconds_up", "website_seconds_degraded",
                                     "website_seconds_down", "website_seconds_unknown")}}
        return totals[code]

    for pk, row in camera_rows.items():
        entry = total(camera_regency[pk])
        entry["cameras"] += 1
        for status in ("ok", "degraded", "offline", "unknown"):
            entry[f"camera_seconds_{status}"] += row[f"seconds_{status}"]
    for pk, row in website_rows.items():
        entry = total(website_regency[pk])
        entry["websites"] += 1
        for availability in ("up", "degraded", "down", "unknown"):
            entry[f"website_seconds_{availability}"] += row[f"seconds_{availability}"]
    table = _t(RegencyDaily)
    conn.execute(delete(table).where(table.c.day == day))
    if totals:
        conn.execute(table.insert(), list(totals.values()))


def mark_silent_cameras(conn: Connection, now: dt.datetime, silence: dt.timedelta) -> list[int]:
    """Cameras without any report for ``silence`` become unknown (no_report); returns their ids.

    Lost cameras are left offline (lost): their agent stopped checking them on purpose, so their
    silence is expected and must not turn a problem into a grey "unknown".
    """
    cameras = _t(Camera)
    cutoff = now - silence
    rows = conn.execute(
        select(cameras.c.id, cameras.c.agent_name, cameras.c.camera_id, cameras.c.regency_code, cameras.c.status,
               cameras.c.status_since)
        .where(cameras.c.status != CameraState.UNKNOWN.value, cameras.c.last_check_at < cutoff, cameras.c.status_since < cutoff,
               cameras.c.lost_at.is_(None), Camera.in_service)
    ).all()
    if not rows:
        return []
    silent = [transitions.CameraNow(row.id, row.camera_id, row.regency_code, row.status, row.status_since)
              for row in rows]
    transitions.cameras_unknown(conn, transitions.Transitions(), silent, [row.agent_name for row in rows],
                                NO_REPORT_REASON, now, created_at=now)
    log.info("%d camera(s) silent for %s: now unknown", len(rows), silence)
    return [row.id for row in rows]


def mark_silent_websites(conn: Connection, now: dt.datetime, silence: dt.timedelta) -> list[int]:
    """Websites silent for ``silence`` and for 3 of their check intervals become unknown (no_report).

    Central is not told a site's interval; the gap between its two newest checks stands for it, so a
    site checked hourly is not declared silent after ``silence`` alone. Returns their ids.
    """
    websites, checks = _t(Website), _t(WebsiteCheck)
    cutoff = now - silence
    candidates = conn.execute(
        select(websites.c.id, websites.c.agent_name, websites.c.website_id, websites.c.regency_code,
               websites.c.state, websites.c.status_since, websites.c.last_check_at)
        .where(websites.c.state != WebsiteState.UNKNOWN.value, websites.c.last_check_at < cutoff, websites.c.status_since < cutoff)
    ).all()
    if not candidates:
        return []
    previous = dict(conn.execute(
        select(checks.c.website_pk, func.max(checks.c.ts))
        .join(websites, websites.c.id == checks.c.website_pk)
        .where(checks.c.website_pk.in_([row.id for row in candidates]), checks.c.ts < websites.c.last_check_at)
        .group_by(checks.c.website_pk)
    ).all())
    rows = []
    for row in candidates:
        before = aware_datetime(previous.get(row.id))
        interval = row.last_check_at - before if before is not None else dt.timedelta(0)
        if now - row.last_check_at > max(silence, SILENT_INTERVALS * interval):
            rows.append(transitions.WebsiteNow(row.id, row.website_id, row.regency_code, row.agent_name, row.state,
                                               row.status_since))
    if not rows:
        return []
    transitions.websites_unknown(conn, transitions.Transitions(), rows, now)
    log.info("%d website(s) silent for %s or more: now unknown", len(rows), silence)
    return [row.id for row in rows]


# The raw tables retention prunes, and the column that dates a row; every other table is kept.
PRUNED: tuple[tuple[type, str], ...] = (
    (CameraCheck, "received_at"),
    (WebsiteCheck, "received_at"),
    (HostMetric, "received_at"),
    (IngestedMessage, "received_at"),
    (QuarantinedMessage, "last_seen_at"),
    (Event, "ts"),
)
PRUNED_TABLES = frozenset(_t(model).name for model, _ in PRUNED)


def prune(conn: Connection, retention: dt.timedelta, now: dt.datetime) -> dict[str, int]:
    """Delete raw rows older than ``retention``; returns how many per table."""
    cutoff = now - retention
    deleted = {}
    for model, column in PRUNED:
        table = _t(model)
        result = conn.execute(delete(table).where(table.c[column] < cutoff))
        deleted[table.name] = result.rowcount
    if any(deleted.values()):
        log.info("retention %s: deleted %s", retention, deleted)
    return deleted
