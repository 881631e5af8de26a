"""What a notification says: the AlertEvent fields, and the Indonesian text for people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.messages import AlertEvent, AlertSeverity, clip_text
from shared.regencies import regency_label

RULE_TITLES_ID = {
    "camera_offline": "Kamera offline",
    "camera_degraded": "Kualitas kamera menurun",
    "agent_offline": "Agen offline",
    "agent_refused": "Laporan agen ditolak",
    "agent_clock": "Jam agen tidak tepat",
    "website_down": "Situs web tidak dapat diakses",
    "website_stale": "Situs web tidak diperbarui",
    "website_certificate": "Sertifikat TLS segera kedaluwarsa",
    "host_disk": "Disk agen hampir penuh",
    "host_temperature": "Suhu perangkat agen tinggi",
    "regency_outage": "Gangguan kamera se-kabupaten/kota",
    "test": "Uji kanal notifikasi",
}
STATE_WORDS_ID = {"firing": "BERMASALAH", "resolved": "PULIH", "test": "UJI"}


def event_fields(
    *,
    alert_id: str,
    rule: str,
    state: str,
    severity: str,
    regency: str | None,
    subject: str,
    message: str,
    started_at: datetime,
    resolved_at: datetime | None,
) -> dict[str, Any]:
    """AlertEvent's fields except seq/msg_id/ts, JSON-ready, validated by building the model once."""
    fields: dict[str, Any] = {
        "alert_id": alert_id,
        "rule": rule,
        "state": state,
        "severity": AlertSeverity(severity).value,
        "regency": regency,
        "subject": clip_text(subject),
        "message": clip_text(message, 2048) or RULE_TITLES_ID.get(rule, rule),
        "started_at": started_at.isoformat(),
        "resolved_at": resolved_at.isoformat() if resolved_at else None,
    }
    to_event(fields, seq=0, msg_id="0" * 32, ts=started_at)
    return fields


def to_event(fields: dict[str, Any], *, seq: int, msg_id: str, ts: datetime) -> AlertEvent:
    return AlertEvent.model_validate({**fields, "seq": seq, "msg_id": msg_id, "ts": ts})


def subject_line(event: AlertEvent) -> str:
    word = "UJI" if event.rule == "test" else STATE_WORDS_ID[event.state]
    return f"[SCC] {word}: {RULE_TITLES_ID.get(event.rule, event.rule)} - {event.subject}"


def body_text(event: AlertEvent, public_url: str = "") -> str:
    """A plain-text e-mail body an operator can act on from a phone."""
    lines = [
        f"{RULE_TITLES_ID.get(event.rule, event.rule)}",
        "",
        f"Status       : {STATE_WORDS_ID[event.state] if event.rule != 'test' else 'UJI'}",
        f"Tingkat      : {event.severity.value}",
        f"Subjek       : {event.subject}",
        f"Wilayah      : {regency_label(event.regency) if event.regency else '-'}",
        f"Mulai        : {event.started_at.isoformat(timespec='minutes')}",
    ]
    if event.resolved_at is not None:
        minutes = (event.resolved_at - event.started_at).total_seconds() / 60
        lines.append(
            f"Pulih        : {event.resolved_at.isoformat(timespec='minutes')} ({minutes:.0f} menit)"
        )
    lines += ["", event.message]
    if public_url:
        lines += ["", f"{public_url.rstrip('/')}/alerts/{event.alert_id}"]
    lines += ["", f"ID peringatan: {event.alert_id}"]
    return "\n".join(lines) + "\n"
