"""`scc-central`: one command whose subcommands each feature registers (db, ingest, serve, user, token...)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from central.config import DEFAULT_CONFIG_PATH, CentralConfig, ConfigError, load_config

# Each module exposes ``register(subparsers)`` adding its subcommands; a subcommand's handler
# takes (config, args) and returns an exit code. Listed here so the command tree is in one place.
COMMAND_MODULES = (
    "central.storage.commands",
    "central.ingest.commands",
    "central.web.commands",
    "central.alerts.commands",
)

Handler = Callable[[CentralConfig, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scc-central", description="SCC central server")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="central.toml (default: %(default)s)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
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
