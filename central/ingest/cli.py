"""`scc-central ingest`: run one ingest worker (or, with --workers, a supervised set) until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
from types import FrameType

from central.config import CentralConfig
from central.ingest.agents import AgentDirectory
from central.ingest.subscription import worker_tls
from central.ingest.supervisor import Supervisor
from central.ingest.worker import IngestWorker
from central.storage.db import WRITER_SQLITE_CACHE_MIB, Database
from central.storage.migrate import current_revisions, head_revisions

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("ingest", help="store agents' MQTT reports (run one or more per broker)")
    parser.add_argument("--workers", type=_positive, default=1,
                        help="worker processes sharing the subscription (default 1); worker K>0 connects with "
                             "certificate central-ingest-K: issue them with 'scc-provision central --ingest-workers N'")
    parser.add_argument("--worker", type=_index, default=0, help=argparse.SUPPRESS)  # set by the supervisor
    parser.set_defaults(handler=run_ingest)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _index(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def missing_worker_certificates(config: CentralConfig, workers: int) -> list[str]:
    """The certificate files ``--workers`` needs that are not there, for one clear error before starting."""
    return [str(path) for index in range(workers) for path in worker_tls(config, index).missing()]


def run_ingest(config: CentralConfig, args: argparse.Namespace) -> int:
    database = Database.from_config(config, sqlite_cache_mib=WRITER_SQLITE_CACHE_MIB)
    current, heads = current_revisions(database), head_revisions()
    if current != heads:
        log.error("database schema at %s, this build needs %s: run 'scc-central db upgrade' first",
                  current or "(empty)", heads)
        return 2
    missing = missing_worker_certificates(config, max(args.workers, args.worker + 1))
    if missing:
        log.error("missing certificate file(s) %s: each ingest worker connects with its own certificate; "
                  "issue them with 'scc-provision central --dir %s --ingest-workers %d'",
                  ", ".join(missing), config.pki.dir, max(args.workers, args.worker + 1))
        return 2
    if args.workers > 1:
        database.dispose()  # the children open their own
        return _run_supervised(config, args)
    worker = IngestWorker(config, database, AgentDirectory(config.pki.dir), worker=args.worker)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current batch and stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _tune_gc()
    try:
        worker.run()
    finally:
        database.dispose()
    return 0


def _tune_gc() -> None:
    # Everything alive now (SQLAlchemy metadata, pydantic validators, modules) lives as long as the
    # process: frozen, the collector stops re-scanning it. A batch's garbage (dicts, messages) is
    # freed by reference counting; only a few hundred objects per batch are cycles. Automatic
    # collections, triggered by allocations, kept re-scanning each live batch: 10-15% of the batch
    # writer's CPU even at a 20,000 threshold. The worker collects on a timer instead (GC_INTERVAL_S).
    gc.freeze()
    gc.disable()


def _run_supervised(config: CentralConfig, args: argparse.Namespace) -> int:
    supervisor = Supervisor(args.config, args.log_level, args.workers)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    return supervisor.run()
