"""Agents' presence through central's own outages, with a real broker and a real ingest worker.

The soak's case (30 minutes, seed 23): a broker SIGTERM sends every agent's will to the ingest as it goes
down; the agents come back by their reconnect backoff, later than the grace period after the wills. The
ingest, disconnected meanwhile, must not take them offline (it could not have heard their births); an
agent that died during the outage goes offline a grace period after the ingest could see again. The same
for the ingest itself down longer than the grace period. The grace period is 3 s here, the outages a
few seconds longer. And an agent killed while the broker crashed (no will is ever sent) goes offline
by its silence, counted from when the ingest could see again (5 s here).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from central.storage.db import Database
from central.storage.models import Agent, Event
from shared.messages import utc_now
from tests.central import factories as f
from tests.central.ingest.test_ingest_mqtt import RunningWorker, central_config
from tests.fixtures.broker import AGENT_MUBA, AGENT_PALEMBANG, BrokerClient, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("central-ingest")

GRACE_S = 3.0
SILENCE_S = 5.0


def agent(broker: TlsBroker, name: str, reconnect_s: int) -> BrokerClient:
    """An agent's link as edge_agent/publisher.py makes it: a last will armed, a birth on every connect,
    and a fixed reconnect wait (the agent's backoff, which may outlast the broker's downtime)."""
    client = BrokerClient(name, name)
    client.tls_set(ca_certs=str(broker.pki.ca_cert), certfile=str(broker.pki.cert(name)),
                   keyfile=str(broker.pki.key(name)))
    client.will_set(*f.wire(f.offline(name, utc_now())), qos=1, retain=False)

    def birth(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            c.publish(*f.wire(f.birth(name, utc_now())), qos=1)

    client.on_connect = birth
    client.reconnect_delay_set(reconnect_s, reconnect_s)
    client.connect_async(broker.host, broker.port, keepalive=30, clean_start=True)
    client.loop_start()
    broker.clients.append(client)
    return client


def online_since(database: Database, name: str) -> tuple[bool, dt.datetime | None, dt.datetime | None]:
    """(online, presence_since, link_lost_at)."""
    with database.session() as session:
        row = session.get(Agent, name)
        return (False, None, None) if row is None else (row.online, row.presence_since, row.link_lost_at)


def offline_events(database: Database) -> list[tuple[str, dt.datetime]]:
    with database.session() as session:
        return [(e.subject, e.ts) for e in session.scalars(select(Event).where(Event.kind == "agent_offline"))]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def ingest(pki: Pki, tls_broker: TlsBroker, sqlite_url: str) -> Iterator[Callable[[], RunningWorker]]:
    """Start an ingest worker (again, after one was stopped) on the same database and broker session."""
    yield from _ingest(pki, tls_broker, sqlite_url, agent_offline_grace_s=GRACE_S, agent_silence_s=0)


@pytest.fixture
def own_broker(tls_broker_factory: Callable[[], TlsBroker]) -> TlsBroker:
    """A broker of this test's own: after a SIGKILL, the shared one would restore the persistence file an
    earlier test's SIGTERM saved (that test's queued wills for the ingest's session)."""
    return tls_broker_factory()


@pytest.fixture
def silent_ingest(pki: Pki, own_broker: TlsBroker, sqlite_url: str) -> Iterator[Callable[[], RunningWorker]]:
    """As ``ingest`` on ``own_broker``, with agents offline after SILENCE_S without a message."""
    yield from _ingest(pki, own_broker, sqlite_url, agent_offline_grace_s=GRACE_S, agent_silence_s=SILENCE_S)


def _ingest(pki: Pki, tls_broker: TlsBroker, sqlite_url: str, **settings: object) -> Iterator[Callable[[], RunningWorker]]:
    config = central_config(pki, tls_broker, sqlite_url, **settings)
    database = Database(sqlite_url)
    runners: list[RunningWorker] = []

    def start() -> RunningWorker:
        runner = RunningWorker(config, database)
        runner.worker.subscription.client.reconnect_delay_set(1, 1)  # back as soon as the broker is
        runner.thread.start()
        assert runner.worker.subscription.subscribed.wait(10), "ingest did not subscribe"
        runners.append(runner)
        return runner

    try:
        yield start
    finally:
        for runner in runners:
            runner.worker.stop()
            runner.thread.join(10)
        database.dispose()


def _both_online(database: Database) -> bool:
    return all(online_since(database, name)[0] for name in (AGENT_PALEMBANG, AGENT_MUBA))


def test_a_broker_restart_longer_than_the_grace_takes_no_returning_agent_offline(
    tls_broker: TlsBroker, ingest: Callable[[], RunningWorker]
) -> None:
    runner = ingest()
    database = runner.worker.database
    alive = agent(tls_broker, AGENT_PALEMBANG, reconnect_s=7)
    dying = agent(tls_broker, AGENT_MUBA, reconnect_s=7)
    wait_until(lambda: _both_online(database), 15, "both births")

    dying.loop_stop()  # it dies with the broker: it never reconnects
    tls_broker.stop()  # SIGTERM: the broker sends both wills to the ingest as it goes down
    wait_until(lambda: not runner.worker.subscription.connected.is_set(), 10, "the ingest to see the broker go")
    time.sleep(4.0)  # down longer than the grace period after the wills
    tls_broker.start()
    wait_until(lambda: runner.worker.subscription.subscribed.is_set(), 15, "the ingest to subscribe again")
    seeing_since = runner.worker.sight.since
    assert seeing_since is not None
    # The living agent's backoff brings it back ~7 s after the wills: past the grace period counted from
    # them, within the one counted from when the ingest could see again.
    wait_until(lambda: alive.is_connected(), 15, "the agent to reconnect")
    wait_until(lambda: online_since(database, AGENT_MUBA)[0] is False, 15, "the dead agent to go offline")

    online, _, link_lost_at = online_since(database, AGENT_PALEMBANG)
    assert online and link_lost_at is None  # its birth cleared the will's grace period
    events = offline_events(database)
    assert [name for name, _ in events] == [AGENT_MUBA]  # the living one: no event, so no alert
    assert events[0][1] >= seeing_since  # offline as of when central could see again, not the will


def test_the_ingest_down_longer_than_the_grace_takes_only_the_agent_that_died_meanwhile_offline(
    tls_broker: TlsBroker, ingest: Callable[[], RunningWorker]
) -> None:
    runner = ingest()
    database = runner.worker.database
    agent(tls_broker, AGENT_PALEMBANG, reconnect_s=1)
    dying = agent(tls_broker, AGENT_MUBA, reconnect_s=1)
    wait_until(lambda: _both_online(database), 15, "both births")

    runner.worker.stop()  # the ingest down; the broker keeps its session and queues for it
    runner.thread.join(10)
    dying.loop_stop()
    link = dying.socket()
    assert link is not None
    link.close()  # killed: no DISCONNECT, so the broker sends its will
    time.sleep(GRACE_S + 2)
    second = ingest()
    seeing_since = second.worker.sight.since
    assert seeing_since is not None
    wait_until(lambda: online_since(database, AGENT_MUBA)[0] is False, 15, "the dead agent to go offline")
    assert online_since(database, AGENT_PALEMBANG)[0]
    events = offline_events(database)
    assert [name for name, _ in events] == [AGENT_MUBA]
    assert events[0][1] >= seeing_since


def _report_every(client: BrokerClient, name: str, every_s: float, stop: threading.Event) -> None:
    """A live agent's host metrics, whether or not the broker is there (paho queues them meanwhile)."""
    while not stop.wait(every_s):
        client.publish(*f.wire(f.host_metrics(name, utc_now())), qos=1)


def test_an_agent_killed_while_the_broker_crashed_goes_offline_by_its_silence_once_the_ingest_sees_again(
    own_broker: TlsBroker, silent_ingest: Callable[[], RunningWorker]
) -> None:
    tls_broker = own_broker
    runner = silent_ingest()
    database = runner.worker.database
    alive = agent(tls_broker, AGENT_PALEMBANG, reconnect_s=1)
    dying = agent(tls_broker, AGENT_MUBA, reconnect_s=1)
    stop = threading.Event()
    reporter = threading.Thread(target=_report_every, args=(alive, AGENT_PALEMBANG, 0.5, stop), daemon=True)
    reporter.start()
    try:
        wait_until(lambda: _both_online(database), 15, "both births")
        dying.loop_stop()  # kill -9: no DISCONNECT, never back; its socket dies with the broker
        tls_broker.kill()  # SIGKILL: the broker sends no will, now or after its restart
        wait_until(lambda: not runner.worker.subscription.connected.is_set(), 10, "the ingest to see the broker go")
        time.sleep(SILENCE_S + 1)  # down longer than the silence window
        tls_broker.start()
        wait_until(lambda: runner.worker.subscription.subscribed.is_set(), 15, "the ingest to subscribe again")
        seeing_since = runner.worker.sight.since
        assert seeing_since is not None
        wait_until(lambda: online_since(database, AGENT_MUBA)[0] is False, 20, "the silent agent to go offline")
        decided = dt.datetime.now(dt.UTC)
    finally:
        stop.set()
        reporter.join(5)

    with database.session() as session:
        events = [(e.subject, e.reason, e.ts) for e in session.scalars(select(Event).where(Event.kind == "agent_offline"))]
    assert [(name, reason) for name, reason, _ in events] == [(AGENT_MUBA, "no_report")]
    assert decided - seeing_since >= dt.timedelta(seconds=SILENCE_S)  # a whole window after the ingest saw again
    assert online_since(database, AGENT_PALEMBANG)[0]  # reported on after the restart: no event, no alert
    assert events[0][2] >= seeing_since  # offline as of when central could see again
