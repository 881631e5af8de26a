"""The monthly report by e-mail: due once per period after the configured local day and hour."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from central.config import CentralConfig
from central.mail import MailError, SmtpMailer, build_email
from central.reports.data import build_report
from central.reports.labels import labels, number
from central.reports.periods import Period, previous_month
from central.reports.render import to_csv, to_pdf
from central.reports.tables import DispatchStatus, ReportDispatch
from central.storage.db import Database

log = logging.getLogger(__name__)

MAX_REPORT_ATTEMPTS = 5


def monthly_due(config: CentralConfig, now: datetime) -> Period | None:
    """The month to send now (the previous one), or None before the configured day and hour."""
    reports = config.reports
    if not reports.monthly_email_to:
        return None
    local = now.astimezone(ZoneInfo(reports.timezone))
    if (local.day, local.hour) < (reports.monthly_day, reports.monthly_hour):
        return None
    return previous_month(now, reports.timezone)


def send_report(
    config: CentralConfig, database: Database, period: Period, now: datetime, recipients: list[str]
) -> None:
    """Build the report and e-mail it with its PDF and CSV attached; raises MailError."""
    with database.session() as session:
        report = build_report(session, period, now, config.reports)
    words = labels(config.reports.language)
    compliant = sum(w.compliant for w in report.websites)
    label = period.label(config.reports.language)
    body = words["email_body"].format(
        period=label,
        availability=f"{number(report.total.availability_pct, 2, report.language)} %",
        incidents=report.total.incidents,
        mttr=number(report.total.mttr_minutes, 0, report.language),
        compliant=compliant,
        websites=len(report.websites),
    )
    message = build_email(
        config.alerts.smtp.sender,
        recipients,
        words["email_subject"].format(period=label),
        body,
        attachments=[
            (f"laporan-scc-{period.slug}.pdf", "application/pdf", to_pdf(report)),
            (f"laporan-scc-{period.slug}-kamera.csv", "text/csv", to_csv(report, "camera")),
            (f"laporan-scc-{period.slug}-situs.csv", "text/csv", to_csv(report, "compliance")),
        ],
    )
    SmtpMailer(config.alerts.smtp).send(message)


def send_due_reports(config: CentralConfig, database: Database, now: datetime) -> list[str]:
    """Send the monthly report if due and not yet sent; the dispatch row makes it once-only."""
    period = monthly_due(config, now)
    if period is None:
        return []
    with database.session(write=True) as session:
        row = session.scalar(
            select(ReportDispatch).where(
                ReportDispatch.kind == "monthly", ReportDispatch.period_start == period.first_day
            )
        )
        if row is None:
            row = ReportDispatch(kind="monthly", period_start=period.first_day, status=DispatchStatus.PENDING.value,
                                 attempts=0, last_error="", recipients=0)  # fmt: skip
            session.add(row)
        if row.status != DispatchStatus.PENDING.value:
            return []
        row.attempts += 1
        attempt = row.attempts
    recipients = config.reports.monthly_email_to
    error: MailError | None = None
    try:
        send_report(config, database, period, now, recipients)
    except MailError as failure:
        error = failure
    with database.session(write=True) as session:
        row = session.scalars(
            select(ReportDispatch).where(
                ReportDispatch.kind == "monthly", ReportDispatch.period_start == period.first_day
            )
        ).one()
        if error is None:
            row.status, row.sent_at, row.recipients, row.last_error = (
                DispatchStatus.SENT.value,
                now,
                len(recipients),
                "",
            )
            log.info("monthly report %s sent to %d recipient(s)", period.slug, len(recipients))
            return [period.slug]
        row.last_error = str(error)
        if error.permanent or attempt >= MAX_REPORT_ATTEMPTS:
            row.status = DispatchStatus.FAILED.value
        log.error("monthly report %s not sent (attempt %d): %s", period.slug, attempt, error)
    return []
