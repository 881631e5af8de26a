"""The monthly report is e-mailed once, after the configured local day and hour, with its PDF attached."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from central.config import ConfigError, parse_config
from central.reports.schedule import send_due_reports
from central.reports.tables import ReportDispatch
from central.storage.db import Database
from tests.central.alerts.receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    ReceivedMail,
    SmtpServer,
    start_smtp_server,
)
from tests.central.web.seed import seed


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


def _regencies_in(mail: ReceivedMail, attachment: str) -> set[str]:
    """The regency codes in the first column of an attached CSV, the total row left out."""
    [part] = [p for p in mail.message.walk() if p.get_filename() == attachment]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    rows = list(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))[1:]
    assert rows, attachment
    return {row[0] for row in rows} - {"16"}


def test_each_regency_gets_a_report_of_its_own(sqlite_url: str, smtp_server: SmtpServer) -> None:
    """[reports] regency_email_to: Palembang's Diskominfo gets Palembang only, the province gets it all."""
    config = parse_config(
        {
            "database": {"url": sqlite_url},
            "alerts": {"smtp": {"host": smtp_server.host, "port": smtp_server.port, "username": SMTP_USER,
                                "password": SMTP_PASSWORD, "sender": "scc@sumselprov.go.id",
                                "ca_file": str(smtp_server.ca_file)}},
            "reports": {
                "monthly_email_to": ["gubernur@sumselprov.go.id"],
                "regency_email_to": {
                    "16.71": ["diskominfo@palembang.go.id"],
                    "16.06": ["kominfo@mubakab.go.id", "bupati@mubakab.go.id"],
                },
            },
        }
    )  # fmt: skip
    database = Database(sqlite_url)
    seed(database, now=datetime(2025, 3, 20, 12, 0, tzinfo=UTC), thumbnails=False)
    sent = send_due_reports(config, database, datetime(2025, 4, 1, 0, 5, tzinfo=UTC))
    assert sent == ["2025-03", "2025-03 16.06", "2025-03 16.71"]
    assert send_due_reports(config, database, datetime(2025, 4, 1, 5, 0, tzinfo=UTC)) == []  # once only
    mails = {tuple(sorted(mail.recipients)): mail for mail in smtp_server.drain()}
    assert set(mails) == {
        ("gubernur@sumselprov.go.id",),
        ("diskominfo@palembang.go.id",),
        ("bupati@mubakab.go.id", "kominfo@mubakab.go.id"),
    }
    palembang = mails[("diskominfo@palembang.go.id",)]
    assert palembang.message["Subject"] == "[SCC] Laporan bulanan Maret 2025: Kota Palembang"
    for attachment in ("laporan-scc-2025-03-kamera.csv", "laporan-scc-2025-03-situs.csv"):
        assert _regencies_in(palembang, attachment) == {"16.71"}
        assert _regencies_in(mails[("bupati@mubakab.go.id", "kominfo@mubakab.go.id")], attachment) == {
            "16.06"
        }
        assert _regencies_in(mails[("gubernur@sumselprov.go.id",)], attachment) == {
            "16.71", "16.06", "16.07", "16.74"
        }  # fmt: skip
    with database.session() as session:
        kinds = {row.kind: (row.status, row.recipients) for row in session.scalars(select(ReportDispatch))}
    assert kinds == {"monthly": ("sent", 1), "monthly:16.06": ("sent", 2), "monthly:16.71": ("sent", 1)}
    database.dispose()


def test_the_province_offices_get_a_report_of_their_own(sqlite_url: str, smtp_server: SmtpServer) -> None:
    """[province] agents report for the province's own offices ("16"), not for the regency on their
    certificate: their recipients get exactly those cameras and sites, and that regency's don't."""
    config = parse_config(
        {
            "database": {"url": sqlite_url},
            "province": {"agents": ["agent-1674"]},
            "alerts": {"smtp": {"host": smtp_server.host, "port": smtp_server.port, "username": SMTP_USER,
                                "password": SMTP_PASSWORD, "sender": "scc@sumselprov.go.id",
                                "ca_file": str(smtp_server.ca_file)}},
            "reports": {"regency_email_to": {"16": ["sekda@sumselprov.go.id"], "16.74": ["kominfo@lahatkab.go.id"]}},
        }
    )  # fmt: skip
    database = Database(sqlite_url)
    seed(database, now=datetime(2025, 3, 20, 12, 0, tzinfo=UTC), thumbnails=False)
    sent = send_due_reports(config, database, datetime(2025, 4, 1, 0, 5, tzinfo=UTC))
    assert sent == ["2025-03 16", "2025-03 16.74"]
    mails = {tuple(mail.recipients): mail for mail in smtp_server.drain()}
    offices = mails[("sekda@sumselprov.go.id",)]
    assert offices.message["Subject"] == "[SCC] Laporan bulanan Maret 2025: Pemprov Sumatera Selatan"
    for attachment in ("laporan-scc-2025-03-kamera.csv", "laporan-scc-2025-03-situs.csv"):
        assert _owners_in(offices, attachment) == {("16", "Pemprov Sumatera Selatan")}
        assert _owners_in(mails[("kominfo@lahatkab.go.id",)], attachment) == set()
    database.dispose()


def _owners_in(mail: ReceivedMail, attachment: str) -> set[tuple[str, str]]:
    """(code, name) of every row of an attached per-camera or per-site CSV (they have no total row)."""
    [part] = [p for p in mail.message.walk() if p.get_filename() == attachment]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return {(row[0], row[1]) for row in list(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))[1:]}


@pytest.mark.parametrize(
    ("regency_email_to", "message"),
    [({"16.99": ["a@b.id"]}, "not a regency code"), ({"16.71": []}, "no recipients for 16.71")],
)
def test_regency_recipients_are_checked(regency_email_to: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"reports": {"regency_email_to": regency_email_to}})
