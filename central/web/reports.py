"""Report pages: weekly or monthly uptime and website compliance on screen, as CSV and as PDF."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from central.config import CentralConfig
from central.reports.data import Report, build_report
from central.reports.labels import labels
from central.reports.periods import Period, current_month, parse_period, previous_month, previous_week
from central.reports.render import CSV_TABLES, to_csv, to_pdf
from central.web import scope
from central.web.auth import login_required
from central.web.database import db_session
from central.web.templating import Words, add_nav_item
from shared.messages import utc_now

# The CSV downloads' names for people; the URLs keep the table's code.
CSV_TABLE_WORDS = {
    "regency": _l("by regency"),
    "opd": _l("by office"),
    "camera": _l("by camera"),
    "website": _l("by website"),
    "compliance": _l("website compliance"),
}

bp = Blueprint("reports", __name__, url_prefix="/reports")
add_nav_item("reports.index", _l("Reports"))


def _config() -> CentralConfig:
    config: CentralConfig = current_app.config["SCC"]
    return config


def _period(text: str | None, weekly: bool = False) -> Period:
    tz = _config().reports.timezone
    if not text:
        # The month so far, not last month: a fresh install has no last month, and the page opened
        # empty; last month is one click away.
        return previous_week(utc_now(), tz) if weekly else current_month(utc_now(), tz)
    try:
        return parse_period(text, tz)
    except ValueError as error:
        abort(400, description=str(error))


def _language() -> str:
    """?lang= when given, else the language the person chose for the pages (the session's)."""
    asked = request.args.get("lang") or str(get_locale())
    return asked if asked in ("id", "en") else _config().reports.language


def _report(period: Period) -> Report:
    config = _config().reports.model_copy(update={"language": _language()})
    return build_report(
        db_session(), period, utc_now(), config, scope.within(), province_agents=_config().province.agents
    )


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    period = _period(request.args.get("period"), weekly=request.args.get("kind") == "weekly")
    report = _report(period)
    worst = sorted(report.cameras, key=lambda c: (c.uptime.availability_pct or 100.0, c.subject))[:50]
    return render_template(
        "reports/index.html",
        report=report,
        period=period,
        words=labels(report.language),
        worst_cameras=worst,
        tables=CSV_TABLES,
        CSV_TABLE_WORDS=Words("csv_tables", CSV_TABLE_WORDS),
        to_date=period.end > report.generated_at,
        empty=not report.cameras and not report.websites,
        previous={
            "current": current_month(utc_now(), period.timezone),
            "monthly": previous_month(utc_now(), period.timezone),
            "weekly": previous_week(utc_now(), period.timezone),
        },
    )


@bp.get("/<period_slug>.csv")
@login_required
def csv_download(period_slug: str) -> ResponseReturnValue:
    table = request.args.get("table", "regency")
    if table not in CSV_TABLES:
        abort(400, description=f"table must be one of {', '.join(CSV_TABLES)}")
    period = _period(period_slug)
    return Response(
        to_csv(_report(period), table),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="laporan-scc-{period.slug}-{table}.csv"'},
    )


@bp.get("/<period_slug>.pdf")
@login_required
def pdf_download(period_slug: str) -> ResponseReturnValue:
    period = _period(period_slug)
    return Response(
        to_pdf(_report(period)),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="laporan-scc-{period.slug}.pdf"'},
    )
