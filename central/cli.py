"""`scc-central`: one command whose subcommands each feature registers (db, ingest, serve, user, token...)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from central.alerts import cli as alerts_cli
from central.config import DEFAULT_CONFIG_PATH, CentralConfig, ConfigError, load_config
from central.ingest import cli as ingest_cli
from central.live_view import cli as live_view_cli
from central.reports import cli as reports_cli
from central.storage import cli as storage_cli
from central.web import cli as web_cli

# Each CLI tree exposes ``register(subparsers)`` adding its subcommands; a subcommand's handler
# takes (config, args) and returns an exit code. Listed here so the command tree is in one place.
COMMAND_TREES = (storage_cli, ingest_cli, web_cli, alerts_cli, reports_cli, live_view_cli)

Handler = Callable[[CentralConfig, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scc-central", description="SCC central server")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="central.toml (default: %(default)s)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for tree in COMMAND_TREES:
        tree.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"scc-central: bad configuration:\n{error}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    return handler(config, args)


if __name__ == "__main__":
    sys.exit(main())
