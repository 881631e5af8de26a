"""`scc-central report send|render`: e-mail a period's uptime and website-compliance report, or write it to a file."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from central.config import CentralConfig
from central.mail import MailError
from central.reports.periods import parse_period, previous_month, previous_week
from central.reports.render import CSV_TABLES, to_csv, to_pdf
from central.storage.db import Database
from shared.regencies import PROVINCE_CODE, is_regency_code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="uptime and website-compliance reports")
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="REPORT_COMMAND")
    send = report_commands.add_parser("send", help="e-mail a report to [reports] monthly_email_to")
    which = send.add_mutually_exclusive_group(required=True)
    which.add_argument("--monthly", action="store_true", help="the previous calendar month")
    which.add_argument("--period", help="YYYY-MM or YYYY-Www")
    send.add_argument("--to", action="append", help="recipient (repeatable; default from central.toml)")
    send.add_argument("--regency", action="append", type=_regency, help="only this regency (repeatable)")
    send.set_defaults(handler=run_report_send)
    render = report_commands.add_parser("render", help="write a report as PDF or CSV")
    render.add_argument("--period", help="YYYY-MM or YYYY-Www (default: previous month)")
    render.add_argument("--weekly", action="store_true", help="the previous ISO week")
    render.add_argument("--format", choices=["pdf", *CSV_TABLES], default="pdf")
    render.add_argument("--output", type=Path, required=True)
    render.add_argument("--regency", action="append", type=_regency, help="only this regency (repeatable)")
    render.set_defaults(handler=run_report_render)


def _regency(code: str) -> str:
    if not (is_regency_code(code) or code == PROVINCE_CODE):
        raise argparse.ArgumentTypeError(
            f"{code!r} is not a regency code of South Sumatra (e.g. 16.71), nor 16 (the province's own offices)"
        )
    return code


def run_report_send(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.reports.schedule import send_report

    now = datetime.now(UTC)
    tz = config.reports.timezone
    period = previous_month(now, tz) if args.monthly else parse_period(args.period, tz)
    regencies = args.regency
    if args.to:
        recipients = args.to
    elif regencies:  # each regency's own recipients, never the province's
        recipients = sorted({a for code in regencies for a in config.reports.regency_email_to.get(code, [])})
    else:
        recipients = config.reports.monthly_email_to
    if not recipients:
        where = "regency_email_to" if regencies else "monthly_email_to"
        print(f"no recipients: set [reports] {where} or pass --to", file=sys.stderr)
        return 2
    database = Database.from_config(config)
    try:
        send_report(config, database, period, now, recipients, regencies)
    except MailError as error:
        print(f"report {period.slug} not sent: {error}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"report {period.slug} sent to {len(recipients)} recipient(s)")
    return 0


def run_report_render(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.reports.data import build_report

    now = datetime.now(UTC)
    tz = config.reports.timezone
    if args.period:
        period = parse_period(args.period, tz)
    else:
        period = previous_week(now, tz) if args.weekly else previous_month(now, tz)
    database = Database.from_config(config)
    try:
        with database.session() as session:
            report = build_report(
                session, period, now, config.reports, args.regency, province_agents=config.province.agents
            )
    finally:
        database.dispose()
    data = to_pdf(report) if args.format == "pdf" else to_csv(report, args.format)
    args.output.write_bytes(data)
    print(f"{args.output}: {period.label(config.reports.language)}, {len(data)} bytes")
    return 0
