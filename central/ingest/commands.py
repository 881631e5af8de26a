"""`scc-central ingest`: run one ingest worker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType

from central.config import CentralConfig
from central.ingest.agents import AgentDirectory
from central.ingest.worker import IngestWorker
from central.storage.db import Database
from central.storage.migrate import current_revisions, head_revisions

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("ingest", help="store agents' MQTT reports (run one or more per broker)")
    parser.add_argument("--client-id", help="MQTT client id (default: broker.client_id); unique per worker")
    parser.set_defaults(handler=run_ingest)


def run_ingest(config: CentralConfig, args: argparse.Namespace) -> int:
    database = Database.from_config(config)
    current, heads = current_revisions(database), head_revisions()
    if current != heads:
        log.error("database schema at %s, this build needs %s: run 'scc-central db upgrade' first",
                  current or "(empty)", heads)
        return 2
    worker = IngestWorker(config, database, AgentDirectory(config.pki.dir), client_id=args.client_id)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current batch and stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run()
    finally:
        database.dispose()
    return 0
