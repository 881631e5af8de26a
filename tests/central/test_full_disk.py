"""Central on a really full disk: its SQLite database on a tiny tmpfs, filled to the last byte by a ballast file.

What must hold (issue 20's "central's disk near full"): the ingest stores nothing it cannot, acknowledges and
confirms nothing it did not store, quarantines nothing for it, says so in one line naming the file, and
stores everything once there is room again; the web keeps showing pages, refuses a login with a clear 503
rather than a 500, and says "disk full" on /healthz and /metrics; the alerts loop keeps running and says it
once. Mounting needs root, which the suite (like CI) has: without it this test fails, it does not skip.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from central.alerts.service import AlertService
from central.config import CentralConfig, parse_config
from central.ingest import worker as worker_module
from central.ingest.agents import AgentDirectory
from central.ingest.worker import IngestWorker
from central.storage.db import Database
from central.storage.models import Camera, IngestedMessage, QuarantinedMessage
from central.web import create_app
from shared import codec, topics
from shared.messages import ReportsStored
from tests.central import factories as f
from tests.central.web.conftest import csrf_from
from tests.central.web.seed import PASSWORD, seed
from tests.fixtures.broker import AGENT_PALEMBANG, CENTRAL, BrokerClient, Pki, TlsBroker

pytestmark = pytest.mark.xdist_group("central-ingest")

DISK_BYTES = 16 * 2**20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs for central's data directory, unmounted afterwards whatever happened."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs to fill a real filesystem: it must run as root (CI does)")
    mount = tmp_path / "central-data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        gc.collect()  # SQLite connections a failed test left unreferenced keep the mount busy
        if subprocess.run(["umount", str(mount)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)  # detached now, gone when released


def fill(directory: Path) -> Path:
    """Fill the filesystem to the last byte; returns the ballast (delete it to make room)."""
    ballast = directory / "ballast"
    with ballast.open("wb", buffering=0) as out:
        for size in (1 << 20, 65_536, 4096, 512, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError:
                pass  # ENOSPC: smaller pieces until not one byte fits
    return ballast


def _config(pki: Pki, broker: TlsBroker, url: str, state: Path) -> CentralConfig:
    return parse_config({
        "state_dir": str(state),
        "database": {"url": url},
        "broker": {"host": broker.host, "port": broker.port, "ca": str(pki.ca_cert), "cert": str(pki.cert(CENTRAL)),
                   "key": str(pki.key(CENTRAL)), "share_group": f"g{uuid.uuid4().hex[:8]}"},
        "pki": {"dir": str(pki.dir)},
        "ingest": {"batch_interval_s": 0.05},
        "alerts": {"interval_s": 0.2},
        "web": {"session_cookie_secure": False, "rollup_cache_s": 0},
    })  # fmt: skip


def _count(database: Database, model: object) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def _stored_ids(database: Database) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(IngestedMessage.msg_id)))


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.1)


class Confirmations:
    """What central confirms to the agent (what its outbox may then delete), collected on paho's thread."""

    def __init__(self, agent: BrokerClient) -> None:
        self.ids: set[str] = set()
        self._agent = agent

    def take(self) -> set[str]:
        while True:
            try:
                message = self._agent.next_message(timeout=0.05)
            except TimeoutError:
                return self.ids
            decoded = codec.decode(message.topic, bytes(message.payload))
            assert isinstance(decoded, codec.Decoded) and isinstance(decoded.message, ReportsStored), decoded
            self.ids |= set(decoded.message.msg_ids)


def _log_in(client: FlaskClient, user: str = "admin") -> int:
    page = client.get("/login")
    return client.post("/login", data={"username": user, "password": PASSWORD,
                                       "csrf_token": csrf_from(page.text)}).status_code  # fmt: skip


def test_a_full_disk_stores_nothing_loses_nothing_and_says_so_once(
    pki: Pki, tls_broker: TlsBroker, sqlite_template: Path, small_disk: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="central")
    monkeypatch.setattr(worker_module, "RETRY_MAX_S", 2.0)  # recovery is seen within seconds, not 30
    path = small_disk / "central.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    database = Database(url)
    seeded = seed(database)
    config = _config(pki, tls_broker, url, tmp_path / "state")
    worker = IngestWorker(config, database, AgentDirectory(config.pki.dir))
    ingest = threading.Thread(target=worker.run, daemon=True)
    stop_alerts = threading.Event()
    alerts = AlertService(config, database)
    alerting = threading.Thread(target=alerts.run, args=(stop_alerts,), daemon=True)
    web = create_app(config, {"DATABASE": database, "SECRET_KEY": "t", "TESTING": True})
    ingest.start()
    alerting.start()
    try:
        assert worker.subscription.subscribed.wait(10), "ingest did not subscribe"
        agent = tls_broker.connect(AGENT_PALEMBANG)
        agent.subscribe_and_wait(topics.confirmations(AGENT_PALEMBANG))
        confirmations = Confirmations(agent)
        cameras = [f"cam-{i}" for i in range(20)]
        sent: list[str] = []

        def publish(count: int) -> None:
            for i in range(count):
                message = f.camera_status(AGENT_PALEMBANG, cameras[i % len(cameras)], "ok" if i % 3 else "offline",
                                          dt.datetime.now(dt.UTC))  # fmt: skip
                agent.publish(*f.wire(message), qos=1)
                sent.append(message.msg_id)

        inventory = f.inventory(AGENT_PALEMBANG, cameras)
        agent.publish_and_wait(*f.wire(inventory))
        sent.append(inventory.msg_id)
        _until(lambda: _count(database, Camera) >= 60, 20, "inventoried cameras")  # seed's 48 and these 20
        publish(100)
        _until(lambda: set(sent) <= _stored_ids(database), 20, "reports stored before the disk fills")
        viewer = web.test_client()
        assert _log_in(viewer) == 302

        ballast = fill(small_disk)
        # SQLite may still fit a few batches in pages and WAL it already has: report until it refuses.
        deadline = time.monotonic() + 60
        while worker.outage.condition is None:
            assert time.monotonic() < deadline, "the ingest never hit the full disk"
            publish(50)
            time.sleep(0.2)
        assert worker.outage.disk_full, worker.outage.failing
        publish(200)  # while full: none of these can be stored
        time.sleep(3)  # several retries

        stored = _stored_ids(database)  # reading works on a full disk
        assert _count(database, QuarantinedMessage) == 0, "a full disk is not bad data"
        assert confirmations.take() <= stored, "confirmed (the agent deletes it) but not stored"
        assert not set(sent) <= stored
        said = [r for r in caplog.records if ": disk full (" in r.getMessage()
                and r.name == "central.ingest.worker"]  # fmt: skip
        assert len(said) == 1, [r.getMessage() for r in said]
        assert str(path) in said[0].getMessage() and said[0].levelno == logging.ERROR
        assert said[0].exc_info is None
        assert not [r for r in caplog.records if r.name.startswith("central.ingest") and r.exc_info]

        # The web: pages read on; a login (a session row) is refused plainly; health says why.
        assert viewer.get("/").status_code == 200
        for page_url in ("/regencies/16.71", "/websites", "/api/v1/cameras?status=offline"):
            assert viewer.get(page_url).status_code == 200, page_url
        # A token's first use records last_used_at: that write fails, the read it came with must not.
        bearer = {"Authorization": f"Bearer {seeded.token}"}
        assert web.test_client().get("/api/v1/cameras", headers=bearer).status_code == 200
        refused = web.test_client()
        page = refused.get("/login")
        assert page.status_code == 200
        response = refused.post("/login", data={"username": "admin", "password": PASSWORD,
                                                "csrf_token": csrf_from(page.text)})  # fmt: skip
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert "disk basis datanya penuh" in response.text and "Traceback" not in response.text
        assert web.test_client().get("/healthz").get_json() == {"status": "degraded", "database": "disk full"}
        metrics = web.test_client().get("/metrics").text
        assert "scc_database_disk_free_bytes" in metrics and "scc_database_disk_size_bytes" in metrics
        # The alerts loop keeps going (its thread is alive) and says it once.
        _until(lambda: alerts.outage.condition is not None, 10, "the alerts loop noticing")
        assert alerting.is_alive()
        alert_lines = [r for r in caplog.records if r.name == "central.alerts.service" and r.levelno >= logging.ERROR]
        assert len(alert_lines) == 1 and "disk full" in alert_lines[0].getMessage(), alert_lines

        ballast.unlink()
        _until(lambda: set(sent) <= _stored_ids(database), 60, "every report stored once there is room")
        _until(lambda: set(sent) <= confirmations.take(), 30, "every report confirmed to the agent")
        assert _count(database, QuarantinedMessage) == 0
        _until(lambda: worker.outage.condition is None, 10, "the ingest's recovery")
        again = [r.getMessage() for r in caplog.records if "writable again" in r.getMessage()
                 and r.name == "central.ingest.worker"]  # fmt: skip
        assert len(again) == 1 and str(path) in again[0]
        assert len([r for r in caplog.records if ": disk full (" in r.getMessage()
                    and r.name == "central.ingest.worker"]) == 1  # fmt: skip
        assert _log_in(web.test_client()) == 302
        assert web.test_client().get("/healthz").get_json() == {"status": "ok", "database": "ok"}
        _until(lambda: alerts.outage.condition is None, 10, "the alerts loop's recovery")
        assert ingest.is_alive() and alerting.is_alive()
    finally:
        stop_alerts.set()
        worker.stop()
        ingest.join(15)
        alerting.join(15)
        database.dispose()
