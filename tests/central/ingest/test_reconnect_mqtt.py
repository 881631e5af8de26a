"""The ingest reconnects within CENTRAL_RECONNECT_MAX_S of the broker coming back, however long it was down.

With the agents' 60 s backoff cap, a 70 s broker outage left the ingest blind ~60 s more (its waits had
doubled to the cap while the broker was gone): no report, birth or will stored meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from central.storage.db import Database
from shared.mqtt import CENTRAL_RECONNECT_MAX_S
from tests.central.ingest.test_ingest_mqtt import RunningWorker, central_config
from tests.fixtures.broker import Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("central-ingest")

# Long enough for an uncapped (60 s) backoff to have grown to 16 s between attempts (1+2+4+8 = 15 s).
OUTAGE_S = 20.0


def test_the_ingest_is_subscribed_again_within_its_reconnect_cap_after_a_long_broker_outage(
    pki: Pki, tls_broker_factory: Callable[[], TlsBroker], sqlite_url: str
) -> None:
    broker = tls_broker_factory()
    database = Database(sqlite_url)
    runner = RunningWorker(central_config(pki, broker, sqlite_url), database)
    runner.thread.start()
    try:
        assert runner.worker.subscription.subscribed.wait(10), "ingest did not subscribe"
        broker.stop()
        deadline = time.monotonic() + 10
        while runner.worker.subscription.connected.is_set():
            assert time.monotonic() < deadline, "the ingest did not see the broker go"
            time.sleep(0.05)
        time.sleep(OUTAGE_S)
        broker.start()
        back = time.monotonic()
        assert runner.worker.subscription.subscribed.wait(CENTRAL_RECONNECT_MAX_S + 2), "ingest not back within its cap"
        assert runner.worker.sight.since is not None  # and seeing: presence counts from now
        took = time.monotonic() - back
        assert took <= CENTRAL_RECONNECT_MAX_S + 1.0, took
    finally:
        runner.worker.stop()
        runner.thread.join(10)
        database.dispose()
