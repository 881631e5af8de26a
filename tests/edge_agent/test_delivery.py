"""Nothing lost, nothing doubled, whoever restarts first: a real agent process, the real broker with the
generated configuration, and the real ingest with its shared subscription.

Each scenario runs an agent process (tests/edge_agent/delivery_agent.py: the real outbox and publisher)
reporting every 50 ms, and asserts at the end that every report it made is stored exactly once with its
original timestamp: the ids in ``ingested_messages``, and the camera_checks rows' timestamps as a
multiset. The agent waits 3 s (6 s at most) for central's confirmation before sending again, so the
scenarios take seconds rather than the production two minutes.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central.config import CentralConfig, parse_config
from central.ingest.agents import AgentDirectory
from central.ingest.worker import IngestWorker
from central.storage.db import Database
from central.storage.models import CameraCheck, HostMetric, IngestedMessage
from tests.edge_agent.conftest import write_config
from tests.edge_agent.delivery_agent import READY
from tests.fixtures.broker import CENTRAL, Pki, TlsBroker

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("broker")]

REPORT_EVERY_S = 0.05
ROOT = Path(__file__).resolve().parents[2]


class Ingest:
    """The ingest worker with one fixed client id, stopped and started like the service."""

    def __init__(self, config: CentralConfig, database: Database) -> None:
        self.config = config
        self.database = database
        self.worker: IngestWorker | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.worker = IngestWorker(self.config, self.database, AgentDirectory(self.config.pki.dir))
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.worker is not None and self.thread is not None:
            self.worker.stop()
            self.thread.join(20)
            assert not self.thread.is_alive(), "the ingest did not stop"
        self.worker = self.thread = None


class AgentProcess:
    """tests/edge_agent/delivery_agent.py on one state directory: start, stop (SIGTERM) or kill -9."""

    def __init__(self, config_path: Path, outbox_path: Path, made_log: Path, log_path: Path) -> None:
        self.config_path, self.outbox_path, self.made_log, self.log_path = config_path, outbox_path, made_log, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it runs (a busy machine takes seconds to import; a signal before the
        handlers are in place would end it silently)."""
        started = self._log().count(READY)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.edge_agent.delivery_agent", str(self.config_path), str(self.made_log),
                 str(REPORT_EVERY_S)],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        deadline = time.monotonic() + 60
        while self._log().count(READY) == started:
            assert self.process.poll() is None, self._log()
            assert time.monotonic() < deadline, f"the agent did not start within 60 s:\n{self._log()}"
            time.sleep(0.1)

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pause(self) -> None:
        """Make no more reports (one last host_metrics sample); keep sending and confirming."""
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR1)

    def outbox(self) -> tuple[int, int]:
        """(reports in the outbox, dropped total) as the agent's outbox file says now."""
        with sqlite3.connect(f"file:{self.outbox_path}?mode=ro", uri=True) as db:
            depth = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            dropped = db.execute("SELECT value FROM meta WHERE name = 'dropped'").fetchone()[0]
        return int(depth), int(dropped)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0, self.log_path.read_text()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def made(self) -> dict[str, dt.datetime]:
        """msg_id -> ts of every status report the agent stored in its outbox."""
        made = {}
        for line in self.made_log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:  # a kill -9 may cut the last line
                made[parts[0]] = dt.datetime.fromisoformat(parts[1])
        return made

    def reports(self) -> int:
        return len(self.made_log.read_text().splitlines()) if self.made_log.exists() else 0


class World:
    def __init__(self, pki: Pki, broker: TlsBroker, database: Database, tmp_path: Path, **outbox: object) -> None:
        self.broker = broker
        self.database = database
        self.name = pki.provision_agent()
        broker.reload()
        config = parse_config({
            "database": {"url": database.url.render_as_string(hide_password=False)},
            "broker": {"host": broker.host, "port": broker.port, "ca": str(pki.ca_cert), "cert": str(pki.cert(CENTRAL)),
                       "key": str(pki.key(CENTRAL)),
                       "share_group": f"g{uuid.uuid4().hex[:8]}"},
            "pki": {"dir": str(pki.dir)},
            "ingest": {"batch_interval_s": 0.05},
        })
        self.ingest = Ingest(config, database)
        state = tmp_path / "agent"
        state.mkdir()
        config_path = write_config(
            tmp_path / "agent.toml", self.name, state, broker_port=broker.port, ca=pki.ca_cert,
            cert=pki.cert(self.name), key=pki.key(self.name),
            broker={"reconnect_min_s": 1, "reconnect_max_s": 2},
            outbox={"confirm_timeout_s": 3, "confirm_timeout_max_s": 6, **outbox},
        )
        self.agent = AgentProcess(config_path, state / "outbox.sqlite", tmp_path / "made.log", tmp_path / "agent.log")
        self.kills = 0

    def stored_checks(self) -> int:
        with self.database.session() as session:
            return session.scalar(select(func.count()).select_from(CameraCheck)) or 0

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; agent log:\n"
                                     f"{self.agent.log_path.read_text()[-3000:]}\nbroker log:\n"
                                     f"{self.broker.log_tail(15)}")
            time.sleep(0.2)

    def flowing(self) -> None:
        """Wait until the ingest stores what the agent sends now."""
        before = self.stored_checks()
        self.wait(lambda: self.stored_checks() >= before + 5, 30, "reports to flow to central")

    def finish(self, dropped: bool = False) -> dict[str, dt.datetime]:
        """Stop making reports, wait for the outbox to empty (central confirmed everything), stop the agent;
        assert every report stored exactly once with its original timestamp (bar what the bound dropped)."""
        self.agent.pause()
        self.wait(lambda: self.agent.outbox()[0] == 0, 90, "central to confirm everything in the outbox")
        self.agent.stop()
        made = self.agent.made()
        self.ingest.stop()
        self.assert_exactly_once(made, self.agent.outbox()[1] if dropped else 0)
        return made

    def _ids(self) -> set[str]:
        with self.database.session() as session:
            return set(session.scalars(select(IngestedMessage.msg_id).where(IngestedMessage.agent_name == self.name)))

    def assert_exactly_once(self, made: dict[str, dt.datetime], dropped: int = 0) -> None:
        with self.database.session() as session:
            stored_ts = Counter(session.scalars(select(CameraCheck.ts)))
        missing = set(made) - self._ids()
        # Dropped from the outbox after the broker accepted them, some still reach central from its queue.
        assert len(missing) <= dropped, f"{len(missing)} report(s) lost, {dropped} dropped by the outbox bound"
        oldest = list(made)[:dropped + 10]  # the oldest go first; each camera's latest (and metrics) is kept
        assert missing <= set(oldest), "the bound dropped reports other than the oldest"
        kept = Counter(ts for msg_id, ts in made.items() if msg_id not in missing)
        # A kill -9 between the outbox's commit and the log line leaves at most one stored report unlogged.
        extra = stored_ts - kept
        assert sum(extra.values()) <= self.kills, f"stored but never made: {extra}"
        assert not (kept - stored_ts), "reports stored with other timestamps, or not at all"
        assert max(stored_ts.values()) == 1, "a report stored twice"


@pytest.fixture
def world(pki: Pki, tls_broker_factory: Callable[[], TlsBroker], sqlite_url: str, tmp_path: Path) -> Iterator[World]:
    database = Database(sqlite_url)
    made = World(pki, tls_broker_factory(), database, tmp_path)
    made.ingest.start()
    made.agent.start()
    made.flowing()
    try:
        yield made
    finally:
        if made.agent.process is not None and made.agent.process.poll() is None:
            made.agent.kill()
        made.ingest.stop()
        database.dispose()


def test_broker_back_before_the_ingest(world: World) -> None:
    # The case that lost 712 of 832 reports: the agents reconnect first and send to a broker that has
    # restored the ingest's session but not its shared subscription.
    world.broker.stop()
    world.ingest.stop()
    time.sleep(2)
    world.broker.start()
    sent_meanwhile = world.agent.reports()
    time.sleep(8)  # the ingest "between retries": the agent sends to no subscriber meanwhile
    assert world.agent.reports() > sent_meanwhile + 50
    world.ingest.start()
    world.finish()


def test_ingest_back_before_the_broker(world: World) -> None:
    world.broker.stop()
    world.ingest.stop()
    world.ingest.start()  # retries connecting until the broker is back
    time.sleep(5)
    world.broker.start()
    world.finish()


def test_broker_kill_9_with_the_ingest_down(world: World) -> None:
    # The broker holds what the agents sent for the ingest's session, PUBACKed, and dies before saving it.
    world.ingest.stop()
    time.sleep(5)
    world.broker.kill()
    world.broker.start()
    world.ingest.start()
    world.finish()


def test_agent_kill_9_mid_outage(world: World) -> None:
    world.broker.stop()
    time.sleep(3)
    world.agent.kill()
    world.kills = 1
    world.agent.start()
    time.sleep(3)
    world.broker.start()
    world.finish()


def test_a_long_outage_reaching_the_outbox_bound_drops_the_oldest_counted_and_seen_at_central(
    pki: Pki, tls_broker_factory: Callable[[], TlsBroker], sqlite_url: str, tmp_path: Path
) -> None:
    database = Database(sqlite_url)
    world = World(pki, tls_broker_factory(), database, tmp_path, max_bytes=16 * 1024)
    try:
        world.ingest.start()
        world.agent.start()
        world.flowing()
        # Central down: the broker accepts (and queues for the ingest's session) but nothing is confirmed,
        # so the outbox fills up to its bound and drops the oldest.
        world.ingest.stop()
        world.wait(lambda: world.agent.outbox()[1] > 20, 60, "the outbox bound to drop reports")
        world.ingest.start()
        made = world.finish(dropped=True)
        dropped = world.agent.outbox()[1]
        assert 20 < dropped < len(made)
        seen = _latest_dropped_at_central(database)
        assert seen is not None and 20 < seen <= dropped, (seen, dropped)  # the last sample carries the count
    finally:
        if world.agent.process is not None and world.agent.process.poll() is None:
            world.agent.kill()
        world.ingest.stop()
        database.dispose()


def _latest_dropped_at_central(database: Database) -> int | None:
    with database.session() as session:
        return session.scalars(select(HostMetric.outbox_dropped_total).order_by(HostMetric.ts.desc()).limit(1)).first()
