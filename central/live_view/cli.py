"""`scc-central live-relay`: run the live-view relay until stopped (SIGTERM/SIGINT)."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from central.config import CentralConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    relay = subparsers.add_parser("live-relay", help="relay cameras' live views from agents to the web's viewers")
    relay.set_defaults(handler=run_relay)


def run_relay(config: CentralConfig, _args: argparse.Namespace) -> int:
    from central.live_view.relay import serve

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return serve(config, stop)
