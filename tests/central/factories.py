"""Builders of realistic agent messages and an in-memory registry for the central tests and benchmark."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from provisioning.ca import Role
from provisioning.registry import BrokerEndpoint, IssuedCert, Registry
from shared import codec
from shared.messages import (
    AgentBirth,
    AgentOffline,
    CameraIdentity,
    CameraInventory,
    CameraStatus,
    CheckOutcome,
    CommandResult,
    DiscoveryMethod,
    HostMetrics,
    WebsiteStatus,
    new_message_id,
)

_seq = itertools.count(1)
T0 = dt.datetime(2026, 1, 5, 3, 0, tzinfo=dt.UTC)

# A small but valid JPEG header is enough: the codec checks magic, size and sha256.
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9"


def registry(agents: dict[str, str], revoked: set[str] = frozenset(), readers: tuple[str, ...] = ()) -> Registry:  # type: ignore[assignment]
    """A registry holding ``agents`` (name -> regency), some revoked, and reader certificates."""
    issued = T0 - dt.timedelta(days=10)
    certs = {
        name: IssuedCert(name, Role.AGENT, regency, f"{i:x}", T0 + dt.timedelta(days=365), issued, name in revoked)
        for i, (name, regency) in enumerate(agents.items(), start=1)
    }
    for reader in readers:
        certs[reader] = IssuedCert(reader, Role.READER, None, "ff", T0 + dt.timedelta(days=365), issued)
    return Registry(BrokerEndpoint(("127.0.0.1",), 8883), certs)


def envelope(agent: str, ts: dt.datetime | None) -> dict[str, Any]:
    return {"agent": agent, "seq": next(_seq), "msg_id": new_message_id(), "ts": ts or T0}


def camera_status(agent: str, camera_id: str, status: str = "ok", ts: dt.datetime | None = None,
                  reason: str | None = None, checks: list[CheckOutcome] | None = None, **extra: Any) -> CameraStatus:
    reason = reason or {"ok": "ok", "degraded": "frozen", "offline": "unreachable", "unknown": "not_checked"}[status]
    checks = checks if checks is not None else [
        CheckOutcome(check="reachable", outcome="ok" if status != "offline" else "fail", reason="ok" if status != "offline" else "unreachable",
                     duration_ms=12.5, details={"rtt_ms": 3.2}),
        CheckOutcome(check="rtsp", outcome="ok" if status == "ok" else "warn", reason="ok", duration_ms=310.0,
                     details={"codec": "h264", "width": 1920, "height": 1080}),
        CheckOutcome(check="frame", outcome="ok", reason="ok", duration_ms=95.0, details={"brightness": 0.42}),
    ]
    extra.setdefault("message", "" if status == "ok" else f"camera {status}")
    return CameraStatus(**envelope(agent, ts), camera_id=camera_id, status=status, reason=reason, checks=checks,
                        **extra)


def website_status(agent: str, website_id: str, availability: str = "up", freshness: str = "fresh",
                   ts: dt.datetime | None = None, reason: str = "ok") -> WebsiteStatus:
    return WebsiteStatus(**envelope(agent, ts), website_id=website_id, url=f"https://{website_id}.go.id/",
                         opd="Diskominfo", availability=availability, reason=reason, http_status=200,
                         response_ms=120.0, tls_valid=True, freshness=freshness, stale_after_days=30,
                         last_update=(ts or T0) - dt.timedelta(days=2), checks=[])


def inventory(agent: str, camera_ids: list[str], ts: dt.datetime | None = None) -> CameraInventory:
    cams = [CameraIdentity(camera_id=c, host=f"10.0.0.{i + 10}", port=80, name=f"Camera {c}", manufacturer="Acme",
                           model="X1", discovered_by=DiscoveryMethod.STATIC, opd="Dishub")
            for i, c in enumerate(camera_ids)]
    return CameraInventory(**envelope(agent, ts), cameras=cams)


def birth(agent: str, ts: dt.datetime | None = None) -> AgentBirth:
    return AgentBirth(**envelope(agent, ts), agent_version="1.0", hostname="box", started_at=ts or T0,
                      cameras_configured=2, websites_configured=1)


def offline(agent: str, ts: dt.datetime | None = None, reason: str = "connection_lost") -> AgentOffline:
    return AgentOffline(**envelope(agent, ts), reason=reason)


def host_metrics(agent: str, ts: dt.datetime | None = None) -> HostMetrics:
    return HostMetrics(**envelope(agent, ts), agent_version="1.0", cpu_percent=12.0, load_1m=0.3,
                       memory_used_bytes=1 << 30, memory_total_bytes=4 << 30, disk_used_bytes=10 << 30,
                       disk_total_bytes=64 << 30, temperatures_c={"cpu": 51.0}, uptime_s=3600.0,
                       net_bytes_sent=1000, net_bytes_recv=2000, outbox_depth=0, outbox_bytes=0,
                       outbox_dropped_total=0)


def command_result(agent: str, command_id: str, ok: bool = True) -> CommandResult:
    return CommandResult(**envelope(agent, None), command_id=command_id, name="check_now", ok=ok, message="done")


def thumbnail(agent: str, camera_id: str, ts: dt.datetime | None = None) -> tuple[str, bytes]:
    meta = codec.thumbnail_meta(agent=agent, seq=next(_seq), msg_id=new_message_id(), ts=ts or T0,
                                camera_id=camera_id, jpeg=JPEG, width=320, height=180)
    return codec.topic_for(meta), codec.encode_thumbnail(meta, JPEG)


def wire(message: Any) -> tuple[str, bytes]:
    """(topic, payload) as an agent would publish it."""
    return codec.topic_for(message), codec.encode(message)
