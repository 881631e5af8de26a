"""Read and change alerts for the web and the API: lists, acknowledgement, silences, admin channels."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select, true
from sqlalchemy.orm import Session

from central.alerts.feed import alert_changed
from central.alerts.model import SubjectKind
from central.alerts.tables import AlertChannelConfig, AlertDelivery, AlertRecord, AlertStatus
from central.storage.models import SilenceRecord
from shared.messages import AlertSeverity

SILENCE_KINDS = ("mute", "maintenance")
TARGET_KINDS = tuple(kind.value for kind in SubjectKind)


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: list[AlertRecord]
    total: int


def list_alerts(
    session: Session,
    *,
    status: str = "firing",
    regency: str | None = None,
    limit: int = 100,
    offset: int = 0,
    within: Collection[str] | None = None,
) -> AlertPage:
    """``within`` limits to alerts of those regencies (the caller's scope); None: all."""
    query = select(AlertRecord)
    if within is not None:
        query = query.where(AlertRecord.regency_code.in_(within))
    if status in (AlertStatus.FIRING.value, AlertStatus.RESOLVED.value):
        query = query.where(AlertRecord.status == status)
    if regency:
        query = query.where(AlertRecord.regency_code == regency)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    # Critical first, then warnings, then info; within one severity the problem that began last on top.
    severity = case(
        {AlertSeverity.CRITICAL.value: 0, AlertSeverity.WARNING.value: 1, AlertSeverity.INFO.value: 2},
        value=AlertRecord.severity,
        else_=3,
    )
    items = session.scalars(
        query.order_by(severity, AlertRecord.started_at.desc(), AlertRecord.id.desc()).limit(limit).offset(offset)
    )
    return AlertPage(list(items), total)


def unacknowledged_critical(
    session: Session, limit: int = 5, within: Collection[str] | None = None
) -> list[AlertRecord]:
    """Firing critical alerts nobody has acknowledged yet, newest first: what sounds the wall's alarm."""
    query = select(AlertRecord).where(
        AlertRecord.status == AlertStatus.FIRING.value,
        AlertRecord.severity == AlertSeverity.CRITICAL.value,
        AlertRecord.acknowledged_at.is_(None),
        AlertRecord.regency_code.in_(within) if within is not None else true(),
    )
    return list(session.scalars(query.order_by(AlertRecord.fired_at.desc(), AlertRecord.id.desc()).limit(limit)))


def recently_acknowledged_critical(
    session: Session, limit: int = 3, within: Collection[str] | None = None
) -> list[AlertRecord]:
    """Firing critical alerts someone acknowledged, the latest acknowledgement first: who is on it."""
    query = select(AlertRecord).where(
        AlertRecord.status == AlertStatus.FIRING.value,
        AlertRecord.severity == AlertSeverity.CRITICAL.value,
        AlertRecord.acknowledged_at.is_not(None),
        AlertRecord.regency_code.in_(within) if within is not None else true(),
    )
    return list(session.scalars(query.order_by(AlertRecord.acknowledged_at.desc()).limit(limit)))


def get_alert(session: Session, alert_id: str) -> AlertRecord | None:
    return session.scalar(select(AlertRecord).where(AlertRecord.alert_id == alert_id))


def deliveries(session: Session, *, alert_pk: int | None = None, limit: int = 50) -> list[AlertDelivery]:
    query = select(AlertDelivery)
    if alert_pk is not None:
        query = query.where(AlertDelivery.alert_pk == alert_pk)
    return list(session.scalars(query.order_by(AlertDelivery.id.desc()).limit(limit)))


def acknowledge(session: Session, alert: AlertRecord, who: str, now: datetime) -> None:
    """The first acknowledgement counts; it goes on the change feed, so every wall stops its alarm at once."""
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, who
        alert_changed(session, alert, "acknowledged", now)


def active_silences(session: Session, now: datetime) -> list[SilenceRecord]:
    return list(
        session.scalars(
            select(SilenceRecord)
            .where(or_(SilenceRecord.ends_at.is_(None), SilenceRecord.ends_at > now))
            .order_by(SilenceRecord.starts_at)
        )
    )


def add_silence(
    session: Session,
    *,
    kind: str,
    target_kind: str,
    target: str,
    starts_at: datetime,
    ends_at: datetime | None,
    rule: str | None,
    reason: str,
    who: str,
) -> SilenceRecord:
    if kind not in SILENCE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SILENCE_KINDS)}")
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target kind must be one of {', '.join(TARGET_KINDS)}")
    if not target.strip():
        raise ValueError("target is required")
    if ends_at is not None and ends_at <= starts_at:
        raise ValueError("the end must be after the start")
    silence = SilenceRecord(
        kind=kind,
        target_kind=target_kind,
        target=target.strip(),
        rule=rule or None,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason[:2048],
        created_by=who,
        created_at=starts_at,
    )
    session.add(silence)
    return silence


def end_silence(session: Session, silence_id: int, now: datetime) -> bool:
    silence = session.get(SilenceRecord, silence_id)
    if silence is None:
        return False
    silence.ends_at = max(now, silence.starts_at)
    return True


def channel_rows(session: Session) -> list[AlertChannelConfig]:
    return list(session.scalars(select(AlertChannelConfig).order_by(AlertChannelConfig.name)))
