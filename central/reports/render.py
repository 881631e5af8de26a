"""A report as CSV tables and as a PDF a leader can forward (fpdf2, DejaVu when installed)."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import FontFace

from central.reports.data import Report
from central.reports.labels import labels, number
from central.reports.uptime import Uptime
from shared.regencies import regency_label

CSV_TABLES = ("regency", "opd", "camera", "website", "compliance")
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
PDF_CAMERA_ROWS = 40

# fontTools logs every subsetting step at INFO; a report is not worth a screenful of log.
logging.getLogger("fontTools").setLevel(logging.WARNING)


def _figures(uptime: Uptime) -> list[str]:
    """Availability, downtime, incidents, MTTR with a dot decimal (CSV is for machines too)."""
    availability = uptime.availability_pct
    mttr = uptime.mttr_minutes
    return [
        f"{availability:.3f}" if availability is not None else "",
        f"{uptime.downtime_minutes:.1f}",
        str(uptime.incidents),
        f"{mttr:.1f}" if mttr is not None else "",
    ]


def csv_rows(report: Report, table: str) -> list[list[str]]:
    words = labels(report.language)
    figures = [words["availability"], words["downtime"], words["incidents"], words["mttr"]]
    if table == "regency":
        rows = [["kode", words["regency"], words["cameras"], *figures]]
        rows += [[g.regency, g.name, str(g.uptime.subjects), *_figures(g.uptime)] for g in report.regencies]
        rows.append(["16", words["total"], str(report.total.subjects), *_figures(report.total)])
        return rows
    if table == "opd":
        rows = [["kode", words["regency"], words["opd"], words["cameras"], *figures]]
        rows += [
            [g.regency, regency_label(g.regency), g.name, str(g.uptime.subjects), *_figures(g.uptime)]
            for g in report.opds
        ]
        return rows
    if table == "camera":
        rows = [["kode", words["regency"], words["opd"], "id", words["camera"], *figures]]
        rows += [
            [c.regency, regency_label(c.regency), c.opd, c.subject, c.label, *_figures(c.uptime)]
            for c in report.cameras
        ]
        return rows
    if table == "website":
        rows = [["kode", words["regency"], words["opd"], words["website"], "url", words["last_update"],
                 words["days_since"], words["compliant"]]]  # fmt: skip
        rows += [
            [
                w.regency,
                regency_label(w.regency),
                w.opd,
                w.label,
                w.url,
                w.last_update.isoformat() if w.last_update else "",
                "" if w.days_since_update is None else str(w.days_since_update),
                words["yes"] if w.compliant else words["no"],
            ]
            for w in report.websites
        ]
        return rows
    if table == "compliance":
        rows = [
            [
                "kode",
                words["regency"],
                words["opd"],
                words["website_count"],
                words["compliant"],
                words["compliance"],
                words["worst_days"],
                words["mean_days"],
            ]
        ]
        rows += [
            [
                c.regency,
                regency_label(c.regency),
                c.opd,
                str(c.websites),
                str(c.compliant),
                f"{c.compliance_pct:.1f}" if c.compliance_pct is not None else "",
                "" if c.worst_days is None else str(c.worst_days),
                f"{c.mean_days:.1f}" if c.mean_days is not None else "",
            ]
            for c in report.compliance
        ]
        return rows
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(CSV_TABLES)}")


# OWASP "CSV Injection": a cell starting with one of these is a formula to Excel, LibreOffice and Sheets
# (tab and carriage return too, since they are stripped before the check). Camera and site names come
# from devices and office staff, so any of them can be "=HYPERLINK(...)".
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def spreadsheet_safe(cell: str) -> str:
    """The cell as text a spreadsheet shows and never evaluates: a leading ``'`` before any formula start.

    Plain numbers (``-1.5``) stay numbers; they cannot be a formula.
    """
    if cell.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def to_csv(report: Report, table: str) -> bytes:
    """The table as UTF-8 CSV with a BOM; every cell passes :func:`spreadsheet_safe`."""
    buffer = io.StringIO()
    rows = ([spreadsheet_safe(cell) for cell in row] for row in csv_rows(report, table))
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode()  # the BOM makes Excel read UTF-8


class _ReportPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="landscape", format="A4")
        self._footer_text = footer_text
        self.family_name = "Helvetica"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family_name, size=7)
        self.cell(0, 5, f"{self._footer_text}   {self.page_no()}/{{nb}}", align="C")


def _font_family(pdf: FPDF) -> str:
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if regular.is_file() and bold.is_file():
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return "DejaVu"
    return "Helvetica"


def _safe(text: str, family: str) -> str:
    # The core fonts only know latin-1; Indonesian needs no more, but names from cameras might.
    return text if family == "DejaVu" else text.encode("latin-1", "replace").decode("latin-1")


def _table(pdf: FPDF, family: str, rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
    pdf.set_font(family, size=8)
    with pdf.table(
        col_widths=tuple(widths),
        text_align=("LEFT",) * 2 + ("RIGHT",) * (len(widths) - 2),
        headings_style=FontFace(emphasis="BOLD", fill_color=(220, 228, 240)),
        line_height=5,
        first_row_as_headings=True,
    ) as table:
        for row in rows:
            cells = table.row()
            for value in row:
                cells.cell(_safe(value, family))
    pdf.ln(4)


def to_pdf(report: Report) -> bytes:
    words = labels(report.language)
    lang = report.language
    period = report.period.label(lang)
    pdf = _ReportPdf(f"SCC - {words['title']} - {period}")
    family = _font_family(pdf)
    pdf.family_name = family
    pdf.set_title(f"{words['title']} {period}")
    pdf.set_author("Sumsel Command Center")
    pdf.add_page()
    pdf.set_font(family, "B", 15)
    pdf.cell(0, 8, _safe(words["title"], family), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    pdf.cell(
        0,
        6,
        _safe(f"{words['province']} - {words['period']}: {period}", family),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    # Stamped in the report's zone (the period's, i.e. [reports] timezone), as the pages show times.
    zone = ZoneInfo(report.period.timezone)
    generated = report.generated_at.astimezone(zone)
    pdf.cell(
        0,
        6,
        f"{words['generated']}: {generated:%Y-%m-%d %H:%M} {generated.tzname()}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)

    def fig(uptime: Uptime) -> list[str]:
        return [
            number(uptime.availability_pct, 2, lang),
            number(uptime.downtime_minutes, 0, lang),
            str(uptime.incidents),
            number(uptime.mttr_minutes, 0, lang),
        ]

    heads = [words["availability"], words["downtime"], words["incidents"], words["mttr"]]
    compliant = sum(w.compliant for w in report.websites)
    pdf.set_font(family, "B", 11)
    pdf.cell(0, 7, words["summary"], new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        family,
        [
            [words["total"], words["cameras"], *heads, words["compliant"]],
            [
                "Sumatera Selatan",
                str(report.total.subjects),
                *fig(report.total),
                f"{compliant}/{len(report.websites)}",
            ],
        ],
        (60, 25, 35, 35, 25, 45, 30),
    )
    for title, rows, widths in (
        (
            words["by_regency"],
            [[words["regency"], words["cameras"], *heads]]
            + [[g.name, str(g.uptime.subjects), *fig(g.uptime)] for g in report.regencies],
            (75, 25, 40, 40, 30, 55),
        ),
        (
            words["by_opd"],
            [[words["regency"], words["opd"], words["cameras"], *heads]]
            + [
                [regency_label(g.regency), g.name, str(g.uptime.subjects), *fig(g.uptime)]
                for g in report.opds
            ],
            (55, 70, 20, 30, 30, 20, 40),
        ),
        (
            words["websites"],
            [
                [
                    words["regency"],
                    words["opd"],
                    words["website_count"],
                    words["compliant"],
                    words["compliance"],
                    words["worst_days"],
                    words["mean_days"],
                ]
            ]
            + [
                [
                    regency_label(c.regency),
                    c.opd,
                    str(c.websites),
                    str(c.compliant),
                    number(c.compliance_pct, 0, lang),
                    "-" if c.worst_days is None else str(c.worst_days),
                    number(c.mean_days, 1, lang),
                ]
                for c in report.compliance
            ],
            (55, 70, 25, 20, 30, 30, 35),
        ),
        (
            words["by_camera"],
            [[words["regency"], words["camera"], *heads]]
            + [
                [regency_label(c.regency), f"{c.label} ({c.opd})", *fig(c.uptime)]
                for c in sorted(
                    report.cameras, key=lambda c: (c.uptime.availability_pct or 100.0, c.subject)
                )[:PDF_CAMERA_ROWS]
            ],
            (55, 90, 35, 35, 25, 40),
        ),
    ):
        if len(rows) == 1:
            continue
        pdf.set_font(family, "B", 11)
        pdf.cell(0, 7, _safe(title, family), new_x="LMARGIN", new_y="NEXT")
        _table(pdf, family, rows, widths)
    pdf.set_font(family, size=7)
    max_days = report.websites[0].max_days if report.websites else 7
    pdf.multi_cell(0, 4, _safe(words["footnote"].format(max_days=max_days), family))
    return bytes(pdf.output())
