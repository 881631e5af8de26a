"""Fill a migrated database with a plausible province: agents, cameras, websites, history, thumbnails.

Written straight through the storage models (bulk inserts), which is what the ingest leaves behind;
shared by the web tests, the browser tests and benchmarks/bench_web.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Connection, insert, select, update
from werkzeug.security import generate_password_hash

from central.storage.db import Database
from central.storage.models import (
    Agent,
    Camera,
    CameraCheck,
    CameraStatusChange,
    CameraThumbnail,
    Event,
    HostMetric,
    Rollout,
    Website,
    WebsiteStatusChange,
)
from central.web.accounts import Role, WebUser, add_token

HOSTILE_NAME = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PASSWORD = "correct horse battery"
OPDS = ("Dinas Perhubungan", "Diskominfo", "BPBD", "Dinas Kesehatan", "Satpol PP", "Dinas Pendidikan")
VENUES = ("Simpang Lima", "Pasar Induk", "Terminal", "Kantor Bupati", "Jembatan", "Alun-alun")
REASONS = {
    "degraded": ("frozen", "clock_skew", "auth_failed", "blurred", "slow_response"),
    "offline": ("unreachable", "rtsp_timeout", "onvif_timeout"),
}


@dataclass(frozen=True, slots=True)
class Seeded:
    admin: str = "admin"
    operator: str = "operator"
    viewer: str = "viewer"
    password: str = PASSWORD
    token: str = ""
    hostile_camera_pk: int = 0
    first_camera_pk: int = 0


@cache
def password_hash() -> str:
    """PASSWORD's real scrypt hash, made once per process and shared by the seeded users.

    Hashing costs 0.2 s by design; three users hashed anew for each of the ~120 seeded tests was 90 %
    of seeding. Logging in still verifies against a real hash; add_user's own checks have their tests.
    """
    return generate_password_hash(PASSWORD)


@cache
def jpeg(index: int) -> bytes:
    """A small real JPEG (a coloured street-ish scene), so thumbnails look like something in screenshots."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(index)
    image = np.zeros((180, 320, 3), np.uint8)
    top, bottom = rng.integers(40, 200, 3), rng.integers(20, 120, 3)
    for row in range(180):
        image[row, :] = top + (bottom - top) * row / 179
    cv2.rectangle(image, (0, 120), (320, 180), (60, 60, 60), -1)
    for lane in range(0, 320, 40):
        cv2.line(image, (lane, 150), (lane + 20, 150), (220, 220, 220), 2)
    for _ in range(4):
        x, w, h = int(rng.integers(0, 280)), int(rng.integers(20, 60)), int(rng.integers(30, 90))
        color = tuple(int(c) for c in rng.integers(60, 255, 3))
        cv2.rectangle(image, (x, 120 - h), (x + w, 120), color, -1)
    cv2.putText(image, f"CAM {index:02d}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return bytes(encoded.tobytes())


def seed(
    database: Database,
    *,
    regencies: tuple[str, ...] = ("16.71", "16.06", "16.07", "16.74"),
    cameras_per_regency: int = 12,
    websites_per_regency: int = 4,
    offline_agent: str | None = "16.07",
    thumbnails: bool = True,
    history_days: int = 7,
    now: dt.datetime | None = None,
    seed_value: int = 7,
) -> Seeded:
    now = now or dt.datetime.now(dt.UTC)
    rng = random.Random(seed_value)  # one stream, drawn in a fixed order: the same seed, the same province
    with database.session(write=True) as session:
        for name, role in (("admin", Role.ADMIN), ("operator", Role.OPERATOR), ("viewer", Role.VIEWER)):
            session.add(WebUser(name=name, password_hash=password_hash(), role=role.value, regencies=[]))
        token = add_token(session, "third-party")
    all_cameras: list[dict[str, object]] = []
    with database.engine.begin() as conn:
        for code in regencies:
            agent = f"agent-{code.replace('.', '')}"
            online = code != offline_agent
            conn.execute(insert(Agent), [_agent(agent, code, online, now, cameras_per_regency, websites_per_regency,
                                                history_days)])
            conn.execute(insert(HostMetric), [_host_metric(agent, online, now)])
            conn.execute(
                update(Rollout)
                .where(Rollout.regency_code == code)
                .values(
                    stage="complete",
                    target_cameras=cameras_per_regency,
                    target_websites=websites_per_regency,
                    started_on=(now - dt.timedelta(days=history_days)).date(),
                )
            )
            cameras = [_camera(agent, code, i, _status(rng, online, unknown=bool(i % 2),
                                                       clock_badge=code == regencies[0] and i == 1),
                               now, history_days, rng)
                       for i in range(cameras_per_regency)]  # fmt: skip
            conn.execute(insert(Camera), cameras)
            all_cameras.extend(cameras)
            websites = [_website(agent, code, i, now, history_days, rng) for i in range(websites_per_regency)]
            if websites:
                conn.execute(insert(Website), websites)
        _camera_history(conn, all_cameras, now, history_days, rng, thumbnails)
        _website_history(conn, now, history_days)
        first = conn.execute(select(Camera.id).order_by(Camera.id).limit(1)).scalar() or 0
    return Seeded(token=token, first_camera_pk=first)


def _agent(agent: str, code: str, online: bool, now: dt.datetime, cameras: int, websites: int,
           history_days: int) -> dict[str, object]:
    return {
        "name": agent,
        "regency_code": code,
        "online": online,
        "revoked": False,
        "presence_since": now - dt.timedelta(hours=3),
        "offline_reason": "" if online else "connection_lost",
        "agent_version": "1.0.0",
        "hostname": f"scc-box-{code}",
        "started_at": now - dt.timedelta(days=2),
        "cameras_configured": cameras,
        "websites_configured": websites,
        "last_seen_at": now - dt.timedelta(seconds=20 if online else 3 * 3600),
        "command_seq": 0,
        "created_at": now - dt.timedelta(days=history_days + 3),
    }


def _host_metric(agent: str, online: bool, now: dt.datetime) -> dict[str, object]:
    """A healthy box; an offline agent's outbox holds what it could not send."""
    return {
        "agent_name": agent,
        "ts": now - dt.timedelta(seconds=30),
        "received_at": now,
        "agent_version": "1.0.0",
        "cpu_percent": 23.0,
        "load_1m": 0.6,
        "memory_used_bytes": 1 << 30,
        "memory_total_bytes": 4 << 30,
        "disk_used_bytes": 12 << 30,
        "disk_total_bytes": 64 << 30,
        "temperatures_c": {"cpu": 54.0},
        "uptime_s": 86400.0 * 2,
        "net_bytes_sent": 10**9,
        "net_bytes_recv": 2 * 10**9,
        "outbox_depth": 0 if online else 420,
        "outbox_bytes": 0 if online else 3 << 20,
        "outbox_dropped_total": 0,
    }


def _status(rng: random.Random, online: bool, unknown: bool, clock_badge: bool) -> tuple[str, str]:
    """(status, reason): mostly ok; ``unknown`` (half an offline agent's cameras) when nobody watches it."""
    roll = rng.random()
    status = "ok" if roll < 0.8 else ("degraded" if roll < 0.9 else "offline")
    if not online and unknown:
        status = "unknown"
    reason = "ok" if status == "ok" else ("no_report" if status == "unknown" else rng.choice(REASONS[status]))
    if clock_badge:
        return "degraded", "clock_skew"  # every seeded province has a clock badge
    return status, reason


def _camera(agent: str, code: str, i: int, state: tuple[str, str], now: dt.datetime, history_days: int,
            rng: random.Random) -> dict[str, object]:
    status, reason = state
    return {
        "agent_name": agent,
        "camera_id": f"cam-{i:04d}",
        "regency_code": code,
        "host": f"10.{int(code[3:])}.{i // 250}.{i % 250 + 2}",
        "port": 80,
        "name": f"{VENUES[i % len(VENUES)]} {i + 1}",
        "manufacturer": "Hikvision",
        "model": "DS-2CD2143",
        "firmware": "V5.7.3",
        "serial": f"SN{code}{i:05d}",
        "mac": "",
        "endpoint_ref": "",
        "discovered_by": "multicast",
        "reported_opd": OPDS[i % len(OPDS)],
        "in_inventory": True,
        "first_seen_at": now - dt.timedelta(days=rng.uniform(0, history_days), hours=1),
        "display_name": "",
        "owner_opd": "",
        "location": "",
        "venue": VENUES[i % len(VENUES)],
        "tags": [],
        "notes": "",
        "status": status,
        "reason": reason,
        "message": "" if status == "ok" else f"{reason} for {rng.randint(1, 40)} min",
        "status_since": now - dt.timedelta(minutes=rng.randint(5, 600)),
        "last_check_at": now - dt.timedelta(seconds=rng.randint(5, 60)),
        "consecutive_failures": 0 if status == "ok" else rng.randint(1, 9),
        "updated_at": now,
    }


def _website(agent: str, code: str, i: int, now: dt.datetime, history_days: int,
             rng: random.Random) -> dict[str, object]:
    """Every fourth site each of fresh, fresh, stale and down."""
    return {
        "agent_name": agent,
        "website_id": f"web-{i}",
        "regency_code": code,
        "url": f"https://{OPDS[i % len(OPDS)].split()[-1].lower()}.{code.replace('.', '')}.go.id/",
        "reported_opd": OPDS[i % len(OPDS)],
        "first_seen_at": now - dt.timedelta(days=rng.uniform(0, history_days)),
        "display_name": "",
        "owner_opd": "",
        "notes": "",
        "state": ("fresh", "fresh", "stale", "down")[i % 4],
        "availability": ("up", "up", "up", "down")[i % 4],
        "freshness": ("fresh", "fresh", "stale", "unknown")[i % 4],
        "reason": ("ok", "ok", "stale", "timeout")[i % 4],
        "message": "",
        "http_status": 200 if i % 4 != 3 else None,
        "response_ms": 180.0,
        "tls_valid": True,
        "tls_expires_at": now + dt.timedelta(days=10 + 30 * i),
        "tls_days_left": 10 + 30 * i,
        "last_update": now - dt.timedelta(days=(1, 3, 45, 90)[i % 4]),
        "last_update_signal": ("wordpress_api", "feed", "sitemap", "last_modified")[i % 4],
        "stale_after_days": 30,
        "status_since": now - dt.timedelta(days=1),
        "last_check_at": now,
        "updated_at": now,
    }


def _camera_history(conn: Connection, cameras: list[dict[str, object]], now: dt.datetime, history_days: int,
                    rng: random.Random, thumbnails: bool) -> None:
    """Each camera's status periods (some with an outage in the week), and for a camera not ok its last
    check and the event that took it there; a thumbnail for each camera someone watches."""
    pks = dict(
        ((agent, camera_id), pk)
        for pk, agent, camera_id in conn.execute(select(Camera.id, Camera.agent_name, Camera.camera_id))
    )
    periods, checks, thumbs, events = [], [], [], []
    for cam in cameras:
        pk = pks[(str(cam["agent_name"]), str(cam["camera_id"]))]
        since = cam["status_since"]
        assert isinstance(since, dt.datetime)
        start = now - dt.timedelta(days=history_days)
        if rng.random() < 0.3:
            blip = start + dt.timedelta(hours=rng.uniform(0, history_days * 24 - 24))
            periods.append(_period(pk, "ok", "ok", start, blip))
            back = blip + dt.timedelta(minutes=rng.randint(10, 300))
            periods.append(_period(pk, "offline", "unreachable", blip, back))
            start = back
        periods.append(_period(pk, "ok", "ok", start, since))
        periods.append(_period(pk, str(cam["status"]), str(cam["reason"]), since, None))
        if cam["status"] != "ok":
            checks.append(_last_check(pk, cam, now))
            events.append(_status_event(pk, cam, since, now))
        if thumbnails and cam["status"] != "unknown":
            thumbs.append(_thumbnail(pk, now))
    for table, rows in ((CameraStatusChange, periods), (CameraCheck, checks), (CameraThumbnail, thumbs),
                        (Event, events)):
        for chunk in range(0, len(rows), 2000):
            conn.execute(insert(table), rows[chunk : chunk + 2000])


def _last_check(pk: int, cam: dict[str, object], now: dt.datetime) -> dict[str, object]:
    details = {"offset_h": 3} if cam["reason"] == "clock_skew" else {}
    outcome = "warn" if cam["status"] == "degraded" else "fail"
    return {
        "camera_pk": pk,
        "ts": cam["last_check_at"],
        "received_at": now,
        "status": cam["status"],
        "reason": cam["reason"],
        "message": cam["message"],
        "consecutive_failures": 1,
        "checks": [{"check": "onvif", "outcome": outcome, "reason": cam["reason"], "message": "",
                    "duration_ms": 40.0, "details": details}],
    }


def _status_event(pk: int, cam: dict[str, object], since: dt.datetime, now: dt.datetime) -> dict[str, object]:
    return {
        "ts": since,
        "created_at": now,
        "kind": "camera_status",
        "regency_code": cam["regency_code"],
        "agent_name": cam["agent_name"],
        "camera_pk": pk,
        "subject": cam["camera_id"],
        "old_state": "ok",
        "new_state": cam["status"],
        "reason": cam["reason"],
        "message": "",
    }


def _thumbnail(pk: int, now: dt.datetime) -> dict[str, object]:
    image = jpeg(pk % 12)
    return {
        "camera_pk": pk,
        "captured_at": now - dt.timedelta(seconds=40),
        "received_at": now,
        "width": 320,
        "height": 180,
        "size_bytes": len(image),
        "sha256": hashlib.sha256(image).hexdigest(),
        "jpeg": image,
    }


def _website_history(conn: Connection, now: dt.datetime, history_days: int) -> None:
    """One open period per website, in its current state for the whole history."""
    website_pks = list(conn.execute(select(Website.id, Website.state, Website.status_since)))
    if not website_pks:
        return
    conn.execute(
        insert(WebsiteStatusChange),
        [
            {
                "website_pk": pk,
                "state": state,
                "availability": "down" if state == "down" else "up",
                "freshness": state,
                "reason": "ok",
                "message": "",
                "started_at": now - dt.timedelta(days=history_days),
                "ended_at": None,
                "duration_s": None,
            }
            for pk, state, _since in website_pks
        ],
    )


def _period(
    pk: int, status: str, reason: str, start: dt.datetime, end: dt.datetime | None
) -> dict[str, object]:
    return {
        "camera_pk": pk,
        "status": status,
        "reason": reason,
        "message": "",
        "started_at": start,
        "ended_at": end,
        "duration_s": (end - start).total_seconds() if end else None,
    }


def add_hostile_camera(database: Database, regency: str = "16.71") -> int:
    """A camera whose every agent-reported text is an attempt at markup injection."""
    now = dt.datetime.now(dt.UTC)
    agent = f"agent-{regency.replace('.', '')}"
    with database.engine.begin() as conn:
        pk = conn.execute(
            insert(Camera).returning(Camera.id),
            [
                {
                    "agent_name": agent,
                    "camera_id": "cam-hostile",
                    "regency_code": regency,
                    "host": HOSTILE_NAME,
                    "port": 80,
                    "name": HOSTILE_NAME,
                    "manufacturer": HOSTILE_NAME,
                    "model": "'\"><svg onload=alert(2)>",
                    "firmware": "",
                    "serial": "",
                    "mac": "",
                    "endpoint_ref": "",
                    "discovered_by": "static",
                    "reported_opd": HOSTILE_NAME,
                    "in_inventory": True,
                    "first_seen_at": now,
                    "display_name": "",
                    "owner_opd": "",
                    "location": "",
                    "venue": HOSTILE_NAME,
                    "tags": [],
                    "notes": "",
                    "status": "offline",
                    "reason": "unreachable",
                    "message": HOSTILE_NAME,
                    "status_since": now,
                    "last_check_at": now,
                    "consecutive_failures": 3,
                    "updated_at": now,
                }
            ],
        ).scalar_one()
    return int(pk)
