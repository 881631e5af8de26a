"""`scc-central alerts run|test`: run the alert evaluator and notifier, or send a test notification."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from central.alerts.service import AlertService
from central.config import CentralConfig
from central.storage.db import Database

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = subparsers.add_parser("alerts", help="alert evaluator and notifier")
    alert_commands = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ALERTS_COMMAND")
    run = alert_commands.add_parser("run", help="evaluate rules and deliver notifications until stopped")
    run.add_argument("--once", action="store_true", help="one evaluation and delivery round, then exit")
    run.set_defaults(handler=run_alerts)
    test = alert_commands.add_parser("test", help="queue and deliver a test notification to one channel")
    test.add_argument("channel")
    test.set_defaults(handler=run_test)


def run_alerts(config: CentralConfig, args: argparse.Namespace) -> int:
    database = Database.from_config(config)
    service = AlertService(config, database)
    if args.once:
        result = service.tick()
        service.close()
        print(f"fired {result.applied.fired}, resolved {result.applied.resolved}, queued {result.applied.queued}, "
              f"sent {result.dispatched.sent}, retrying {result.dispatched.retrying}, failed {result.dispatched.failed}")  # fmt: skip
        return 0
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("alerts: signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.run(stop)
    database.dispose()
    return 0


def run_test(config: CentralConfig, args: argparse.Namespace) -> int:
    database = Database.from_config(config)
    service = AlertService(config, database)
    names = [c.name for c in service.channels() if c.enabled]
    if args.channel not in names:
        print(
            f"no enabled channel {args.channel!r}; channels: {', '.join(names) or '(none)'}", file=sys.stderr
        )
        return 2
    delivery_id = service.queue_test(args.channel, "cli")
    result = service.tick()
    service.close()
    print(f"test delivery {delivery_id}: sent {result.dispatched.sent}, failed {result.dispatched.failed}, "
          f"retrying {result.dispatched.retrying}")  # fmt: skip
    return 0 if result.dispatched.sent else 1
