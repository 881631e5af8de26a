"""The monthly report is e-mailed once, after the configured local day and hour, with its PDF attached."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from central.config import parse_config
from central.reports.schedule import send_due_reports
from central.reports.tables import ReportDispatch
from central.storage.db import Database
from tests.central.alerts.receivers import SMTP_PASSWORD, SMTP_USER, SmtpServer, start_smtp_server


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    yield from start_smtp_server(tmp_path)


def test_monthly_report_sent_once_on_schedule(sqlite_url: str, smtp_server: SmtpServer) -> None:
    config = parse_config(
        {
            "database": {"url": sqlite_url},
            "alerts": {
                "smtp": {
                    "host": smtp_server.host,
                    "port": smtp_server.port,
                    "username": SMTP_USER,
                    "password": SMTP_PASSWORD,
                    "sender": "scc@sumselprov.go.id",
                    "ca_file": str(smtp_server.ca_file),
                }
            },
            "reports": {
                "monthly_email_to": ["gubernur@sumselprov.go.id"],
                "monthly_day": 1,
                "monthly_hour": 7,
            },
        }
    )
    database = Database(sqlite_url)
    # 1 April 06:30 WIB: too early. 07:05 WIB: due. Later the same day: already sent.
    assert send_due_reports(config, database, datetime(2025, 3, 31, 23, 30, tzinfo=UTC)) == []
    assert send_due_reports(config, database, datetime(2025, 4, 1, 0, 5, tzinfo=UTC)) == ["2025-03"]
    assert send_due_reports(config, database, datetime(2025, 4, 1, 5, 0, tzinfo=UTC)) == []
    [mail] = smtp_server.drain()
    assert mail.tls and mail.authenticated
    assert mail.message["Subject"] == "[SCC] Laporan bulanan Maret 2025"
    attachments = {
        part.get_filename(): part.get_content_type() for part in mail.message.walk() if part.get_filename()
    }
    assert attachments == {
        "laporan-scc-2025-03.pdf": "application/pdf",
        "laporan-scc-2025-03-kamera.csv": "text/csv",
        "laporan-scc-2025-03-situs.csv": "text/csv",
    }
    with database.session() as session:
        dispatch = session.scalars(select(ReportDispatch)).one()
    assert (dispatch.status, dispatch.attempts, dispatch.recipients) == ("sent", 1, 1)
    database.dispose()


def test_wrong_smtp_password_gives_up_without_leaking_it(
    sqlite_url: str, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        {
            "database": {"url": sqlite_url},
            "alerts": {"smtp": {"host": smtp_server.host, "port": smtp_server.port, "username": SMTP_USER,
                                "password": "wrong-password-xyz", "ca_file": str(smtp_server.ca_file)}},
            "reports": {"monthly_email_to": ["gubernur@sumselprov.go.id"]},
        }
    )  # fmt: skip
    database = Database(sqlite_url)
    assert send_due_reports(config, database, datetime(2025, 4, 1, 3, 0, tzinfo=UTC)) == []
    with database.session() as session:
        dispatch = session.scalars(select(ReportDispatch)).one()
    assert dispatch.status == "failed" and "authentication" in dispatch.last_error
    assert "wrong-password-xyz" not in caplog.text and "wrong-password-xyz" not in dispatch.last_error
    assert "wrong-password-xyz" not in repr(config)
    database.dispose()
