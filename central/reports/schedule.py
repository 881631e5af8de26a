"""The monthly report by e-mail: due once per period after the configured local day and hour."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
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
from shared.regencies import regency_label

log = logging.getLogger(__name__)

MAX_REPORT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Audience:
    """Who gets one monthly mail, and of what: the province (``regencies`` None) or one regency's own."""

    kind: str  # the dispatch row's kind: "monthly", or "monthly:16.71" for a regency
    regencies: tuple[str, ...] | None
    recipients: tuple[str, ...]


def audiences(config: CentralConfig) -> list[Audience]:
    """The province's recipients, then each regency's (``[reports] regency_email_to``), in code order."""
    reports = config.reports
    province = (
        [Audience("monthly", None, tuple(reports.monthly_email_to))] if reports.monthly_email_to else []
    )
    return province + [
        Audience(f"monthly:{code}", (code,), tuple(addresses))
        for code, addresses in sorted(reports.regency_email_to.items())
    ]


def monthly_due(config: CentralConfig, now: datetime) -> Period | None:
    """The month to send now (the previous one), or None before the configured day and hour."""
    reports = config.reports
    if not audiences(config):
        return None
    local = now.astimezone(ZoneInfo(reports.timezone))
    if (local.day, local.hour) < (reports.monthly_day, reports.monthly_hour):
        return None
    return previous_month(now, reports.timezone)


def send_report(
    config: CentralConfig,
    database: Database,
    period: Period,
    now: datetime,
    recipients: Sequence[str],
    regencies: Collection[str] | None = None,
) -> None:
    """Build the report (of ``regencies`` only, or the province) and e-mail it with PDF and CSV; raises MailError."""
    with database.session() as session:
        report = build_report(
            session, period, now, config.reports, regencies, province_agents=config.province.agents
        )
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
    subject = words["email_subject"].format(period=label)
    if regencies is not None:  # the regency's name up front, so nobody takes it for the province's
        subject = f"{subject}: {', '.join(regency_label(code) for code in sorted(regencies))}"
    message = build_email(
        config.alerts.smtp.sender,
        list(recipients),
        subject,
        body,
        attachments=[
            (f"laporan-scc-{period.slug}.pdf", "application/pdf", to_pdf(report)),
            (f"laporan-scc-{period.slug}-kamera.csv", "text/csv", to_csv(report, "camera")),
            (f"laporan-scc-{period.slug}-situs.csv", "text/csv", to_csv(report, "compliance")),
        ],
    )
    SmtpMailer(config.alerts.smtp).send(message)


def send_due_reports(config: CentralConfig, database: Database, now: datetime) -> list[str]:
    """Send each audience's monthly report if due and not yet sent; returns the kinds sent, with the period.

    Each audience has its own dispatch row, so one regency's mail server failing neither holds back nor
    repeats anyone else's report.
    """
    period = monthly_due(config, now)
    if period is None:
        return []
    return [
        f"{period.slug}" if audience.regencies is None else f"{period.slug} {audience.regencies[0]}"
        for audience in audiences(config)
        if _dispatch(config, database, period, now, audience)
    ]


def _dispatch(
    config: CentralConfig, database: Database, period: Period, now: datetime, audience: Audience
) -> bool:
    """Send one audience's report once; the dispatch row records attempts and the outcome."""
    where = (ReportDispatch.kind == audience.kind, ReportDispatch.period_start == period.first_day)
    with database.session(write=True) as session:
        row = session.scalar(select(ReportDispatch).where(*where))
        if row is None:
            row = ReportDispatch(kind=audience.kind, period_start=period.first_day, status=DispatchStatus.PENDING.value,
                                 attempts=0, last_error="", recipients=0)  # fmt: skip
            session.add(row)
        if row.status != DispatchStatus.PENDING.value:
            return False
        row.attempts += 1
        attempt = row.attempts
    error: MailError | None = None
    try:
        send_report(config, database, period, now, audience.recipients, audience.regencies)
    except MailError as failure:
        error = failure
    with database.session(write=True) as session:
        row = session.scalars(select(ReportDispatch).where(*where)).one()
        if error is None:
            row.status, row.sent_at, row.recipients, row.last_error = (
                DispatchStatus.SENT.value,
                now,
                len(audience.recipients),
                "",
            )
            log.info(
                "%s report %s sent to %d recipient(s)", audience.kind, period.slug, len(audience.recipients)
            )
            return True
        row.last_error = str(error)
        if error.permanent or attempt >= MAX_REPORT_ATTEMPTS:
            row.status = DispatchStatus.FAILED.value
        log.error("%s report %s not sent (attempt %d): %s", audience.kind, period.slug, attempt, error)
    return False
