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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="uptime and website-compliance reports")
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="REPORT_COMMAND")
    send = report_commands.add_parser("send", help="e-mail a report to [reports] monthly_email_to")
    which = send.add_mutually_exclusive_group(required=True)
    which.add_argument("--monthly", action="store_true", help="the previous calendar month")
    which.add_argument("--period", help="YYYY-MM or YYYY-Www")
    send.add_argument("--to", action="append", help="recipient (repeatable; default from central.toml)")
    send.set_defaults(handler=run_report_send)
    render = report_commands.add_parser("render", help="write a report as PDF or CSV")
    render.add_argument("--period", help="YYYY-MM or YYYY-Www (default: previous month)")
    render.add_argument("--weekly", action="store_true", help="the previous ISO week")
    render.add_argument("--format", choices=["pdf", *CSV_TABLES], default="pdf")
    render.add_argument("--output", type=Path, required=True)
    render.set_defaults(handler=run_report_render)


def run_report_send(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.reports.schedule import send_report

    now = datetime.now(UTC)
    tz = config.reports.timezone
    period = previous_month(now, tz) if args.monthly else parse_period(args.period, tz)
    recipients = args.to or config.reports.monthly_email_to
    if not recipients:
        print("no recipients: set [reports] monthly_email_to or pass --to", file=sys.stderr)
        return 2
    database = Database.from_config(config)
    try:
        send_report(config, database, period, now, recipients)
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
            report = build_report(session, period, now, config.reports)
    finally:
        database.dispose()
    data = to_pdf(report) if args.format == "pdf" else to_csv(report, args.format)
    args.output.write_bytes(data)
    print(f"{args.output}: {period.label(config.reports.language)}, {len(data)} bytes")
    return 0
