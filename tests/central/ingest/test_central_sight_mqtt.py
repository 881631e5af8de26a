"""Two ingest workers on PostgreSQL sharing the subscription: presence settles by central's sight as a whole.

A worker that is disconnected may have an agent's birth queued for it at the broker; the connected one
must not take that agent offline meanwhile (``central_sight.py``). A worker that died must not blind
central forever: after ``DEAD_AFTER`` it is ignored, and the grace period counts from then.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from central.config import CentralConfig
from central.ingest.agents import AgentDirectory
from central.ingest.central_sight import DEAD_AFTER
from central.ingest.worker import IngestWorker
from central.storage.db import Database
from tests.central.ingest.test_ingest_mqtt import central_config
from tests.central.ingest.test_presence_mqtt import agent, offline_events, online_since, wait_until
from tests.fixtures.broker import AGENT_MUBA, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("central-ingest")

GRACE_S = 5.0


class Workers:
    """Ingest workers 0 and 1 on threads, one database, one shared subscription."""

    def __init__(self, config: CentralConfig, database: Database) -> None:
        self.workers = [IngestWorker(config, database, AgentDirectory(config.pki.dir), worker=i) for i in (0, 1)]
        self.threads = [threading.Thread(target=w.run, daemon=True) for w in self.workers]
        for worker, thread in zip(self.workers, self.threads, strict=True):
            worker.subscription.client.reconnect_delay_set(1, 1)
            thread.start()
        for worker in self.workers:
            assert worker.subscription.subscribed.wait(10), "an ingest worker did not subscribe"

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def workers(pki: Pki, tls_broker_factory: Callable[[], TlsBroker], postgres_url: str
            ) -> Iterator[tuple[TlsBroker, Workers]]:
    broker = tls_broker_factory()
    database = Database(postgres_url)
    running = Workers(central_config(pki, broker, postgres_url, agent_offline_grace_s=GRACE_S,
                                     agent_silence_s=0), database)
    try:
        yield broker, running
    finally:
        running.stop()
        database.dispose()


def _kill_link(broker: TlsBroker, database: Database) -> None:
    """The agent online, then its link dies without a DISCONNECT: the broker sends its will."""
    dying = agent(broker, AGENT_MUBA, reconnect_s=1)
    wait_until(lambda: online_since(database, AGENT_MUBA)[0], 15, "the birth")
    dying.loop_stop()
    link = dying.socket()
    assert link is not None
    link.close()
    wait_until(lambda: online_since(database, AGENT_MUBA)[2] is not None, 15, "the will")


def test_a_worker_settles_nothing_while_another_live_worker_is_blind(workers: tuple[TlsBroker, Workers]) -> None:
    broker, running = workers
    first, second = running.workers
    database = first.database
    _kill_link(broker, database)
    second.subscription.client.disconnect()  # blind: a birth may be queued for it at the broker
    time.sleep(GRACE_S + 3)  # past the grace period counted from the will, the first worker seeing all along
    assert online_since(database, AGENT_MUBA)[0], "settled while a worker was blind"

    second.subscription.client.loop_stop()
    second.subscription.client.reconnect()
    second.subscription.client.loop_start()
    wait_until(lambda: second.sight.since is not None, 15, "the second worker to see again")
    back = second.sight.since
    assert back is not None
    wait_until(lambda: online_since(database, AGENT_MUBA)[0] is False, 20, "the agent to go offline")
    decided = dt.datetime.now(dt.UTC)
    assert decided - back >= dt.timedelta(seconds=GRACE_S)  # the grace period counted from then
    assert [name for name, _ in offline_events(database)] == [AGENT_MUBA]
    assert offline_events(database)[0][1] >= back


def test_a_stopped_worker_blinds_central_until_found_dead_then_the_grace_period_counts_from_then(
    workers: tuple[TlsBroker, Workers],
) -> None:
    broker, running = workers
    first, second = running.workers
    database = first.database
    _kill_link(broker, database)
    willed = dt.datetime.now(dt.UTC)
    second.stop()  # it records itself blind as it goes; killed, its heartbeat would just stop
    running.threads[1].join(10)
    stopped = dt.datetime.now(dt.UTC)
    wait_until(lambda: online_since(database, AGENT_MUBA)[0] is False, DEAD_AFTER.total_seconds() + GRACE_S + 15,
               "the agent to go offline despite the dead worker")
    decided = dt.datetime.now(dt.UTC)
    assert [name for name, _ in offline_events(database)] == [AGENT_MUBA]
    # Not a grace period after the will (the stopped worker blinded central), but as of when it was found
    # dead (its last heartbeat, as it stopped, plus DEAD_AFTER), and a grace period after that.
    since = offline_events(database)[0][1]
    assert willed + DEAD_AFTER - dt.timedelta(seconds=0.5) <= since <= stopped + DEAD_AFTER
    assert decided - since >= dt.timedelta(seconds=GRACE_S)
