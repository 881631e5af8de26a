"""A valid example of every message kind, for contract and codec tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared import messages as m

TS = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CHECK = m.CheckOutcome(
    check="snapshot", outcome=m.Outcome.OK, reason="ok", message="fetched", duration_ms=12.5
)


def _envelope(seq: int = 1) -> dict[str, Any]:
    return {"agent": "plg-01", "seq": seq, "msg_id": m.new_message_id(), "ts": TS}


def _public() -> dict[str, Any]:
    return {"seq": 1, "msg_id": m.new_message_id(), "ts": TS}


def sample_message(model: type) -> Any:
    """A valid instance of ``model`` with realistic values."""
    samples: dict[type, Any] = {
        m.AgentBirth: lambda: m.AgentBirth(
            **_envelope(),
            agent_version="0.1.0",
            hostname="scc-plg",
            started_at=TS,
            cameras_configured=36,
            websites_configured=12,
        ),
        m.AgentOffline: lambda: m.AgentOffline(**_envelope(), reason="connection_lost"),
        m.HostMetrics: lambda: m.HostMetrics(
            **_envelope(),
            agent_version="0.1.0",
            cpu_percent=12.0,
            load_1m=0.4,
            memory_used_bytes=1,
            memory_total_bytes=2,
            disk_used_bytes=3,
            disk_total_bytes=4,
            temperatures_c={"cpu": 51.0},
            uptime_s=100.0,
            net_bytes_sent=5,
            net_bytes_recv=6,
            outbox_depth=0,
            outbox_bytes=0,
            outbox_dropped_total=0,
        ),
        m.CameraInventory: lambda: m.CameraInventory(
            **_envelope(),
            cameras=[
                m.CameraIdentity(
                    camera_id="cam-01",
                    host="10.1.2.3",
                    port=80,
                    name="Lobby",
                    manufacturer="Acme",
                    model="X1",
                    serial="SN1",
                    mac="00:11:22:33:44:55",
                    discovered_by=m.DiscoveryMethod.MULTICAST,
                )
            ],
            found=["cam-01"],
        ),
        m.CameraStatus: lambda: m.CameraStatus(
            **_envelope(), camera_id="cam-01", status=m.CameraState.OK, reason="ok", checks=[CHECK]
        ),
        m.CameraThumbnail: lambda: m.CameraThumbnail(
            **_envelope(),
            camera_id="cam-01",
            width=320,
            height=180,
            size_bytes=4,
            sha256="0" * 64,
            captured_at=TS,
        ),
        m.WebsiteStatus: lambda: m.WebsiteStatus(
            **_envelope(),
            website_id="dinkes",
            url="https://dinkes.palembang.go.id/",
            opd="Dinas Kesehatan",
            availability=m.WebsiteAvailability.UP,
            reason="ok",
            http_status=200,
            response_ms=120.0,
            tls_valid=True,
            tls_expires_at=TS,
            tls_days_left=80,
            freshness=m.Freshness.FRESH,
            last_update=TS,
            last_update_signal=m.FreshnessSignal.FEED,
            stale_after_days=30,
            checks=[CHECK],
        ),
        m.Command: lambda: m.Command(**_envelope(), command_id="c1", name=m.CommandName.CHECK_NOW),
        m.CommandResult: lambda: m.CommandResult(
            **_envelope(), command_id="c1", name=m.CommandName.CHECK_NOW, ok=True, message="done"
        ),
        m.LiveFrame: lambda: m.LiveFrame(
            **_envelope(), camera_id="cam-01", state=m.LiveState.FAILED, reason="rtsp_no_frames",
            message="stream did not open in FFmpeg",
        ),
        m.RegencySummary: lambda: m.RegencySummary(
            **_public(),
            regency="16.71",
            name="Kota Palembang",
            stage="complete",
            agents_online=1,
            agents_total=1,
            cameras_ok=30,
            cameras_degraded=3,
            cameras_offline=3,
            cameras_unknown=0,
            cameras_total=36,
            websites_fresh=10,
            websites_stale=2,
            websites_down=0,
            websites_total=12,
        ),
        m.ReportsStored: lambda: m.ReportsStored(
            msg_id=m.new_message_id(), agent="plg-01", ts=TS, msg_ids=["0123456789abcdef0123456789abcdef", "f" * 32],
        ),
        m.PublicCameraStatus: lambda: m.PublicCameraStatus(
            **_public(),
            regency="16.71",
            agent="plg-01",
            camera_id="cam-01",
            status=m.CameraState.OK,
            reason="ok",
        ),
        m.PublicWebsiteStatus: lambda: m.PublicWebsiteStatus(
            **_public(),
            regency="16.71",
            agent="plg-01",
            website_id="dinkes",
            url="https://x.go.id/",
            availability=m.WebsiteAvailability.UP,
            freshness=m.Freshness.STALE,
            reason="stale",
        ),
        m.AlertEvent: lambda: m.AlertEvent(
            **_public(),
            alert_id="a1",
            rule="camera_offline",
            state="firing",
            severity=m.AlertSeverity.CRITICAL,
            regency="16.71",
            subject="camera plg-01/cam-01",
            message="offline for 10 min",
            started_at=TS,
        ),
    }
    return samples[model]()
