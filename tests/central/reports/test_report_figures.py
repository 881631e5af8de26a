"""Report figures equal hand-computed values for a seeded March 2025; CSV and PDF carry them."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from central.reports.config import ReportsConfig
from central.reports.data import Report, build_report
from central.reports.periods import iso_week, month, parse_period, previous_month, previous_week
from central.reports.render import to_csv, to_pdf
from central.reports.uptime import StatusPeriod, subject_uptime
from central.storage.db import Database
from central.storage.models import Agent, Camera, CameraStatusChange, SilenceRecord, Website, WebsiteCheck

TZ = "Asia/Jakarta"
MARCH = month(2025, 3, TZ)
NOW = datetime(2025, 4, 2, 3, 0, tzinfo=UTC)
MARCH_MINUTES = 31 * 24 * 60  # 44,640


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seed(database: Database) -> None:
    """Three cameras in two regencies and three websites; the comments give each figure by hand."""
    with database.session(write=True) as session:
        session.add_all(
            [
                Agent(name="agent-plg", regency_code="16.71", created_at=utc("2025-01-01T00:00")),
                Agent(name="agent-muba", regency_code="16.06", created_at=utc("2025-01-01T00:00")),
            ]
        )
        session.flush()
        cameras = {
            "A": Camera(
                agent_name="agent-plg", camera_id="cam-a", regency_code="16.71", owner_opd="Dinas Kominfo"
            ),
            "B": Camera(
                agent_name="agent-plg", camera_id="cam-b", regency_code="16.71", owner_opd="Dinas Perhubungan"
            ),
            "C": Camera(
                agent_name="agent-muba", camera_id="cam-c", regency_code="16.06", owner_opd="Dinas Kominfo"
            ),
        }
        session.add_all(cameras.values())
        session.flush()
        history = {
            # A: down 120 + 30 minutes, 6 hours without reports (not monitored).
            "A": [
                ("ok", "2025-02-01T00:00", "2025-03-05T03:00"),
                ("offline", "2025-03-05T03:00", "2025-03-05T05:00"),
                ("ok", "2025-03-05T05:00", "2025-03-20T01:00"),
                ("offline", "2025-03-20T01:00", "2025-03-20T01:30"),
                ("ok", "2025-03-20T01:30", "2025-03-25T00:00"),
                ("unknown", "2025-03-25T00:00", "2025-03-25T06:00"),
                ("ok", "2025-03-25T06:00", None),
            ],
            # B: an outage from 23:00 to 02:00 local across the month boundary (120 of its 180 minutes in
            # March), and one wholly inside a 10-hour maintenance window (not counted at all).
            "B": [
                ("ok", "2025-02-01T00:00", "2025-02-28T16:00"),
                ("offline", "2025-02-28T16:00", "2025-02-28T19:00"),
                ("ok", "2025-02-28T19:00", "2025-03-10T02:00"),
                ("offline", "2025-03-10T02:00", "2025-03-10T04:00"),
                ("ok", "2025-03-10T04:00", None),
            ],
            # C: goes down one hour before the month ends (local midnight = 17:00 UTC), still down.
            "C": [
                ("ok", "2025-02-01T00:00", "2025-03-31T16:00"),
                ("offline", "2025-03-31T16:00", None),
            ],
        }
        for key, periods in history.items():
            for status, start, end in periods:
                session.add(
                    CameraStatusChange(
                        camera_pk=cameras[key].id,
                        status=status,
                        reason=status,
                        started_at=utc(start),
                        ended_at=utc(end) if end else None,
                    )
                )
        session.add(
            SilenceRecord(
                kind="maintenance",
                target_kind="camera",
                target="agent-plg/cam-b",
                starts_at=utc("2025-03-10T00:00"),
                ends_at=utc("2025-03-10T10:00"),
            )
        )
        sites = [
            Website(agent_name="agent-plg", website_id="w1", regency_code="16.71", url="https://kominfo.palembang.go.id",
                    owner_opd="Dinas Kominfo", last_update=utc("2025-03-28T00:00")),
            # Updated after March; the check made in March knew 1 March.
            Website(agent_name="agent-plg", website_id="w2", regency_code="16.71", url="https://ppid.palembang.go.id",
                    owner_opd="Dinas Kominfo", last_update=utc("2025-04-01T00:00")),
            Website(agent_name="agent-muba", website_id="w3", regency_code="16.06", url="https://kominfo.mubakab.go.id",
                    owner_opd="Dinas Kominfo", last_update=None),
        ]  # fmt: skip
        session.add_all(sites)
        session.flush()
        session.add(
            WebsiteCheck(website_pk=sites[1].id, ts=utc("2025-03-30T00:00"), received_at=utc("2025-03-30T00:00"),
                         state="stale", availability="up", freshness="stale", reason="stale",
                         last_update=utc("2025-03-01T00:00"))
        )  # fmt: skip


@pytest.fixture
def report(sqlite_url: str) -> Report:
    database = Database(sqlite_url)
    seed(database)
    with database.session() as session:
        result = build_report(session, MARCH, NOW, ReportsConfig())
    database.dispose()
    return result


def test_period_bounds_are_local_days() -> None:
    assert MARCH.start == utc("2025-02-28T17:00") and MARCH.end == utc("2025-03-31T17:00")
    assert MARCH.label() == "Maret 2025" and MARCH.label("en") == "March 2025"
    week = iso_week(2025, 10, TZ)
    assert (week.first_day, week.end_day) == (date(2025, 3, 3), date(2025, 3, 10))
    assert parse_period("2025-W10", TZ) == week and parse_period("2025-03", TZ) == MARCH
    # 1 April 06:00 local is still 31 March 23:00 UTC: the previous month is March.
    assert previous_month(utc("2025-03-31T23:00"), TZ) == MARCH
    assert previous_week(utc("2025-03-12T00:00"), TZ) == week


def test_camera_figures(report: Report) -> None:
    by_id = {line.subject: line.uptime for line in report.cameras}
    a, b, c = by_id["agent-plg/cam-a"], by_id["agent-plg/cam-b"], by_id["agent-muba/cam-c"]
    assert a.monitored_s == (MARCH_MINUTES - 360) * 60
    assert a.downtime_minutes == 150
    assert a.availability_pct == pytest.approx(100 * (1 - 150 / 44280))  # 99.6612 %
    assert (a.incidents, a.mttr_minutes) == (2, 75)

    assert b.monitored_s == (MARCH_MINUTES - 600) * 60
    assert b.downtime_minutes == 120
    assert b.availability_pct == pytest.approx(100 * (1 - 120 / 44040))  # 99.7275 %
    assert (b.incidents, b.mttr_minutes) == (1, 180)

    assert c.downtime_minutes == 60
    assert c.availability_pct == pytest.approx(100 * (1 - 60 / 44640))  # 99.8656 %
    assert (c.incidents, c.mttr_minutes) == (1, None)


def test_regency_opd_and_province_rollups(report: Report) -> None:
    regencies = {g.regency: g.uptime for g in report.regencies}
    palembang = regencies["16.71"]
    assert (palembang.subjects, palembang.downtime_minutes, palembang.incidents) == (2, 270, 3)
    assert palembang.availability_pct == pytest.approx(100 * (1 - 270 / 88320))  # 99.6943 %
    assert palembang.mttr_minutes == pytest.approx(110)  # (120 + 30 + 180) / 3
    assert [g.name for g in report.regencies] == ["Kabupaten Musi Banyuasin", "Kota Palembang"]
    opds = {(g.regency, g.name): g.uptime for g in report.opds}
    assert opds[("16.71", "Dinas Perhubungan")].downtime_minutes == 120
    assert opds[("16.06", "Dinas Kominfo")].availability_pct == pytest.approx(100 * (1 - 60 / 44640))
    assert report.total.downtime_minutes == 330 and report.total.incidents == 4
    assert report.total.availability_pct == pytest.approx(100 * (1 - 330 / 132960))  # 99.7518 %


def test_website_compliance(report: Report) -> None:
    days = {w.url: w.days_since_update for w in report.websites}
    assert days == {
        "https://kominfo.palembang.go.id": 3,  # 28 Mar 00:00 UTC -> 31 Mar 17:00 UTC
        "https://ppid.palembang.go.id": 30,  # as known at the end of March, not today's value
        "https://kominfo.mubakab.go.id": None,
    }
    compliance = {(c.regency, c.opd): c for c in report.compliance}
    palembang = compliance[("16.71", "Dinas Kominfo")]
    assert (palembang.websites, palembang.compliant, palembang.worst_days, palembang.mean_days) == (
        2,
        1,
        30,
        16.5,
    )
    assert palembang.compliance_pct == 50
    muba = compliance[("16.06", "Dinas Kominfo")]
    assert (muba.websites, muba.compliant, muba.worst_days, muba.mean_days) == (1, 0, None, None)


def test_csv_has_the_same_figures(report: Report) -> None:
    rows = list(csv.reader(io.StringIO(to_csv(report, "regency").decode("utf-8-sig"))))
    assert rows[0][:4] == ["kode", "Kabupaten/Kota", "Jumlah kamera", "Ketersediaan (%)"]
    assert rows[2] == [
        "16.71",
        "Kota Palembang",
        "2",
        f"{100 * (1 - 270 / 88320):.3f}",
        "270.0",
        "3",
        "110.0",
    ]
    assert rows[-1][1] == "Total provinsi"
    cameras = list(csv.reader(io.StringIO(to_csv(report, "camera").decode("utf-8-sig"))))
    assert len(cameras) == 4
    compliance = list(csv.reader(io.StringIO(to_csv(report, "compliance").decode("utf-8-sig"))))
    assert compliance[-1][2:] == ["Dinas Kominfo", "2", "1", "50.0", "30", "16.5"]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils' pdftotext")
def test_pdf_reads_in_indonesian(report: Report, tmp_path: Path) -> None:
    pdf = to_pdf(report)
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "Laporan Kinerja CCTV dan Situs Web OPD" in text
    assert "Maret 2025" in text
    assert "Ketersediaan (%)" in text
    assert "99,69" in text  # Kota Palembang, with a decimal comma
    assert "Kabupaten Musi Banyuasin" in text
    stamped = report.generated_at.astimezone(ZoneInfo(report.period.timezone))
    assert f"{stamped:%Y-%m-%d %H:%M} WIB" in text and "UTC" not in text  # the report's zone, not UTC


def test_uptime_counts_only_until_now() -> None:
    periods = [StatusPeriod("ok", utc("2025-03-01T00:00"), utc("2025-03-02T00:00")),
               StatusPeriod("offline", utc("2025-03-02T00:00"), None)]  # fmt: skip
    up = subject_uptime(periods, utc("2025-03-01T00:00"), utc("2025-04-01T00:00"), utc("2025-03-03T00:00"))
    assert (up.monitored_s, up.down_s, up.incidents, up.repaired) == (2 * 86400, 86400, 1, 0)
    assert up.availability_pct == 50


def test_retired_cameras_count_only_until_their_retirement(sqlite_url: str) -> None:
    from sqlalchemy import select

    database = Database(sqlite_url)
    seed(database)
    with database.session(write=True) as session:
        retired = {"cam-a": utc("2025-02-15T00:00"), "cam-b": utc("2025-03-16T17:00"), "cam-c": utc("2025-04-01T00:00")}
        for camera in session.scalars(select(Camera)):
            camera.retired_at = retired[camera.camera_id]
    with database.session() as session:
        result = build_report(session, MARCH, NOW, ReportsConfig())
    database.dispose()
    by_id = {line.subject: line.uptime for line in result.cameras}
    assert set(by_id) == {"agent-plg/cam-b", "agent-muba/cam-c"}  # A was retired before March
    assert by_id["agent-plg/cam-b"].monitored_s < (MARCH_MINUTES - 600) * 60 / 2 + 24 * 3600
    assert by_id["agent-muba/cam-c"].downtime_minutes == 60  # retired after March: as before
