"""Persist the evaluator: load firing alerts and silences, write back transitions and queue notices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from central.alerts.feed import alert_changed
from central.alerts.model import ActiveAlert, Evaluation, Silence, SubjectKind, TransitionKind
from central.alerts.notices import event_fields
from central.alerts.outbox import enqueue
from central.alerts.tables import AlertRecord, AlertStatus
from central.storage.models import SilenceRecord
from shared.messages import AlertSeverity

# (rule, severity, regency, state) -> names of the channels that take it
Router = Callable[[str, str, str | None, str], list[str]]


@dataclass(slots=True)
class ApplyStats:
    fired: int = 0
    resolved: int = 0
    queued: int = 0


def load_active(session: Session) -> dict[str, ActiveAlert]:
    rows = session.scalars(select(AlertRecord).where(AlertRecord.status == AlertStatus.FIRING.value))
    return {row.key: _to_active(row) for row in rows}


def load_silences(session: Session, now: datetime) -> list[Silence]:
    rows = session.scalars(
        select(SilenceRecord).where(
            SilenceRecord.starts_at <= now, or_(SilenceRecord.ends_at.is_(None), SilenceRecord.ends_at > now)
        )
    )
    return [
        Silence(
            kind=row.kind,
            target_kind=SubjectKind(row.target_kind),
            target=row.target,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            rule=row.rule,
        )
        for row in rows
    ]


def _to_active(row: AlertRecord) -> ActiveAlert:
    return ActiveAlert(
        alert_id=row.alert_id,
        rule=row.rule,
        subject_kind=SubjectKind(row.subject_kind),
        subject_id=row.subject_id,
        subject_label=row.subject_label,
        severity=AlertSeverity(row.severity),
        message=row.message,
        started_at=row.started_at,
        fired_at=row.fired_at,
        regency=row.regency_code,
        agent=row.agent_name,
        opd=row.opd,
        notified=row.notified,
        suppressed_by=row.suppressed_by,
        good_since=row.good_since,
        members=tuple(row.members or ()),
    )


def _copy_into(row: AlertRecord, alert: ActiveAlert, now: datetime) -> None:
    row.subject_label = alert.subject_label[:256]
    row.severity = alert.severity.value
    row.message = alert.message[:2048]
    row.notified = alert.notified
    row.suppressed_by = alert.suppressed_by
    row.good_since = alert.good_since
    row.members = list(alert.members)
    row.updated_at = now


def apply_evaluation(session: Session, evaluation: Evaluation, route: Router, now: datetime) -> ApplyStats:
    """Write the evaluation in the caller's transaction: alert rows and their outbox rows commit together."""
    stats = ApplyStats()
    rows: dict[str, AlertRecord] = {}
    wanted = {t.alert.alert_id for t in evaluation.transitions} | {
        a.alert_id for a in evaluation.active.values()
    }
    if wanted:
        for existing in session.scalars(select(AlertRecord).where(AlertRecord.alert_id.in_(wanted))):
            rows[existing.alert_id] = existing

    for transition in evaluation.transitions:
        alert = transition.alert
        row = rows.get(alert.alert_id)
        if transition.kind == TransitionKind.FIRED:
            if row is None:
                row = AlertRecord(
                    alert_id=alert.alert_id,
                    key=alert.key,
                    rule=alert.rule,
                    subject_kind=alert.subject_kind.value,
                    subject_id=alert.subject_id,
                    regency_code=alert.regency,
                    agent_name=alert.agent,
                    opd=alert.opd,
                    started_at=alert.started_at,
                    fired_at=alert.fired_at,
                    acknowledged_by="",
                )
                session.add(row)
                rows[alert.alert_id] = row
            row.status = AlertStatus.FIRING.value
            row.resolved_at = None
            alert_changed(session, row, AlertStatus.FIRING.value, now)
            stats.fired += 1
        elif row is None:
            continue
        elif transition.kind == TransitionKind.RESOLVED:
            row.status = AlertStatus.RESOLVED.value
            row.resolved_at = transition.resolved_at
            alert_changed(session, row, AlertStatus.RESOLVED.value, now)
            stats.resolved += 1
        _copy_into(row, alert, now)
        if transition.kind in (TransitionKind.NOTIFY_FIRING, TransitionKind.NOTIFY_RESOLVED):
            state = "firing" if transition.kind == TransitionKind.NOTIFY_FIRING else "resolved"
            channels = route(alert.rule, alert.severity.value, alert.regency, state)
            if channels:
                session.flush()  # the alert row's id, for the outbox's foreign key
                fields = event_fields(
                    alert_id=alert.alert_id,
                    rule=alert.rule,
                    state=state,
                    severity=alert.severity.value,
                    regency=alert.regency,
                    subject=alert.subject_label,
                    message=alert.message,
                    started_at=alert.started_at,
                    resolved_at=transition.resolved_at,
                )
                enqueue(session, alert_pk=row.id, event=state, fields=fields, channels=channels, now=now)
                stats.queued += len(channels)

    for alert in evaluation.active.values():
        current = rows.get(alert.alert_id)
        if current is not None:
            _copy_into(current, alert, now)
    return stats
