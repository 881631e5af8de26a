"""The ingest worker against the real mutual-TLS broker: store, acknowledge, republish, survive kill -9."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central.config import CentralConfig, ProvinceConfig, parse_config
from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchResult
from central.ingest.worker import IngestWorker
from central.storage.db import Database
from central.storage.models import Agent, Camera, CameraCheck, IngestedMessage, QuarantinedMessage
from shared import codec, topics
from shared.messages import PublicCameraStatus, PublicWebsiteStatus, RegencySummary, ReportsStored, utc_now
from tests.central import factories as f
from tests.fixtures.broker import (
    AGENT_PALEMBANG,
    CENTRAL,
    CENTRAL_COMMANDS,
    READER,
    READER_2,
    BrokerClient,
    Pki,
    TlsBroker,
)

pytestmark = pytest.mark.xdist_group("central-ingest")


def central_config(pki: Pki, broker: TlsBroker, db_url: str, **ingest: object) -> CentralConfig:
    return parse_config(
        {
            "state_dir": tempfile.mkdtemp(prefix="scc-central-state-"),  # the command senders' lock file
            "database": {"url": db_url},
            "broker": {
                "host": broker.host, "port": broker.port, "ca": str(pki.ca_cert), "cert": str(pki.cert(CENTRAL)),
                "key": str(pki.key(CENTRAL)),
                "share_group": f"g{uuid.uuid4().hex[:8]}",
            },
            "pki": {"dir": str(pki.dir)},
            "ingest": {"batch_interval_s": 0.05, **ingest},
        }
    )


class RunningWorker:
    """An IngestWorker on a thread, with a way to wait for what it stored."""

    def __init__(self, config: CentralConfig, database: Database) -> None:
        self.condition = threading.Condition()
        self.worker = IngestWorker(config, database, AgentDirectory(config.pki.dir), on_batch=self._batch)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def _batch(self, _result: BatchResult) -> None:
        with self.condition:
            self.condition.notify_all()

    def wait_for(self, predicate: object, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        with self.condition:
            while not predicate():  # type: ignore[operator]
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out; totals {self.worker.totals}"
                self.condition.wait(min(remaining, 0.2))


@pytest.fixture
def running(pki: Pki, tls_broker: TlsBroker, database: Database) -> Iterator[RunningWorker]:
    config = central_config(pki, tls_broker, str(database.url.render_as_string(hide_password=False)))
    runner = RunningWorker(config, database)
    runner.thread.start()
    assert runner.worker.subscription.subscribed.wait(10), "ingest did not subscribe"
    yield runner
    runner.worker.stop()
    runner.thread.join(10)


def count(database: Database, model: object) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def inventory_first(agent: BrokerClient, database: Database, name: str, camera_ids: list[str]) -> None:
    """Publish the agent's inventory and wait until its cameras exist: only an inventory makes a camera.

    With several workers the statuses that follow may reach another worker than the inventory did.
    """
    agent.publish_and_wait(*f.wire(f.inventory(name, camera_ids)))
    deadline = time.monotonic() + 30
    while count(database, Camera) < len(camera_ids):
        assert time.monotonic() < deadline, f"{count(database, Camera)}/{len(camera_ids)} cameras inventoried"
        time.sleep(0.05)


def test_reports_are_stored_and_republished(running: RunningWorker, tls_broker: TlsBroker, database: Database) -> None:
    reader = tls_broker.connect(READER)
    reader.subscribe_and_wait(topics.ALL_PUBLIC_TOPICS)
    agent = tls_broker.connect(AGENT_PALEMBANG)
    for message in (f.birth(AGENT_PALEMBANG), f.inventory(AGENT_PALEMBANG, ["cam-1"]),
                    f.camera_status(AGENT_PALEMBANG, "cam-1", "offline"),
                    f.website_status(AGENT_PALEMBANG, "dinkes"), f.host_metrics(AGENT_PALEMBANG)):
        topic, payload = f.wire(message)
        agent.publish_and_wait(topic, payload)
    agent.publish_and_wait(topics.metrics(AGENT_PALEMBANG), b"garbage")
    running.wait_for(lambda: count(database, IngestedMessage) == 5 and count(database, QuarantinedMessage) == 1)
    with database.session() as session:
        camera = session.scalars(select(Camera)).one()
        assert (camera.status, camera.regency_code) == ("offline", "16.71")
        assert session.get(Agent, AGENT_PALEMBANG).online  # type: ignore[union-attr]

    seen: dict[str, object] = {}
    deadline = time.monotonic() + 15
    while not (topics.public_camera("16.71", AGENT_PALEMBANG, "cam-1") in seen
               and topics.public_regency("16.71") in seen):
        assert time.monotonic() < deadline, f"public topics seen: {sorted(seen)}"
        message = reader.next_message(timeout=15)
        decoded = codec.decode(message.topic, message.payload)
        assert isinstance(decoded, codec.Decoded), decoded
        seen[message.topic] = decoded.message
    camera_status = seen[topics.public_camera("16.71", AGENT_PALEMBANG, "cam-1")]
    assert isinstance(camera_status, PublicCameraStatus) and camera_status.status == "offline"
    summary = seen[topics.public_regency("16.71")]
    assert isinstance(summary, RegencySummary)


def _confirmed_ids(agent: BrokerClient, running: RunningWorker, want: set[str]) -> list[str]:
    """The msg_ids central confirms to ``agent`` until all of ``want`` came."""
    confirmed: list[str] = []
    deadline = time.monotonic() + 15
    while not want <= set(confirmed):
        try:
            message = agent.next_message(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            pytest.fail(f"confirmed so far: {confirmed}; {running.worker.totals}")
        decoded = codec.decode(message.topic, message.payload)
        assert isinstance(decoded, codec.Decoded) and isinstance(decoded.message, ReportsStored), decoded
        assert decoded.message.agent == agent.name
        confirmed += decoded.message.msg_ids
    return confirmed


def test_each_commit_is_confirmed_to_its_agent_with_redeliveries_and_quarantined_reports(
    running: RunningWorker, tls_broker: TlsBroker, database: Database
) -> None:
    agent = tls_broker.connect(AGENT_PALEMBANG)
    agent.subscribe_and_wait(topics.confirmations(AGENT_PALEMBANG))
    inventory = f.inventory(AGENT_PALEMBANG, [f"cam-{i}" for i in range(3)])  # only an inventory makes cameras
    agent.publish_and_wait(*f.wire(inventory))
    assert _confirmed_ids(agent, running, {inventory.msg_id}) == [inventory.msg_id]
    fresh = [f.camera_status(AGENT_PALEMBANG, f"cam-{i}", "ok") for i in range(3)]
    future = f.camera_status(AGENT_PALEMBANG, "cam-9", "ok", dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    for message in (*fresh, future):
        agent.publish_and_wait(*f.wire(message))
    # The implausible one is quarantined: confirmed too, sending it again would not change that.
    confirmed = _confirmed_ids(agent, running, {m.msg_id for m in fresh} | {future.msg_id})
    assert len(confirmed) == 4
    agent.publish_and_wait(*f.wire(fresh[0]))  # a resend of a report already stored: confirmed again
    assert _confirmed_ids(agent, running, {fresh[0].msg_id}) == [fresh[0].msg_id]
    assert count(database, CameraCheck) == 3 and count(database, QuarantinedMessage) == 1


def test_statuses_for_cameras_no_inventory_listed_create_no_camera_and_no_public_topic(
    running: RunningWorker, tls_broker: TlsBroker, database: Database
) -> None:
    """The attack: 2,000 statuses alone made 2,000 camera rows and retained public topics. Now: none."""
    reader = tls_broker.connect(READER)
    reader.subscribe_and_wait(topics.public_camera("+", AGENT_PALEMBANG, "+"))
    agent = tls_broker.connect(AGENT_PALEMBANG)
    total = 500
    for i in range(total):
        agent.publish(*f.wire(f.camera_status(AGENT_PALEMBANG, f"ghost-{i}", "ok", ts=utc_now())), qos=1)
    agent.publish_and_wait(*f.wire(f.host_metrics(AGENT_PALEMBANG)))
    running.wait_for(lambda: count(database, QuarantinedMessage) == total and count(database, IngestedMessage) >= 1)
    assert count(database, Camera) == 0 and count(database, CameraCheck) == 0
    with database.session() as session:
        assert set(session.scalars(select(QuarantinedMessage.category))) == {"unknown_camera"}
    reader.assert_no_message(timeout=2.0)  # no public camera topic came into being


def test_revoked_agent_is_quarantined_before_the_broker_reloads(
    running: RunningWorker, tls_broker: TlsBroker, pki: Pki, database: Database
) -> None:
    name = pki.provision_agent(regency="16.06")
    agent = tls_broker.connect(name)
    inventory_first(agent, database, name, ["cam-7"])
    agent.publish_and_wait(*f.wire(f.camera_status(name, "cam-7", "ok")))
    running.wait_for(lambda: count(database, CameraCheck) == 1)
    pki.revoke(name)  # the broker still has the old CRL: the ingest must refuse on its own
    agent.publish_and_wait(*f.wire(f.camera_status(name, "cam-7", "offline")))
    running.wait_for(lambda: count(database, QuarantinedMessage) == 1)
    with database.session() as session:
        assert session.scalars(select(QuarantinedMessage.category)).one() == "revoked_agent"
        assert session.scalars(select(Camera.status)).one() == "ok"


def test_a_retired_cameras_retained_status_is_cleared_at_maintenance(
    pki: Pki, tls_broker: TlsBroker, database: Database
) -> None:
    config = central_config(pki, tls_broker, database.url.render_as_string(hide_password=False),
                            maintenance_interval_s=0.3, summary_interval_s=0.1)
    runner = RunningWorker(config, database)
    runner.thread.start()
    try:
        assert runner.worker.subscription.subscribed.wait(10), "ingest did not subscribe"
        topic = topics.public_camera("16.71", AGENT_PALEMBANG, "cam-9")
        reader = tls_broker.connect(READER)
        reader.subscribe_and_wait(topic)
        agent = tls_broker.connect(AGENT_PALEMBANG)
        inventory_first(agent, database, AGENT_PALEMBANG, ["cam-9"])
        # Stamped now: a report at the factories' old T0 lets the silence sweep (every 0.3 s here) turn the
        # camera 'unknown' before the retirement, a race a loaded machine lost.
        agent.publish_and_wait(*f.wire(f.camera_status(AGENT_PALEMBANG, "cam-9", "offline", ts=utc_now())))
        while b'"status":"offline"' not in reader.next_message(timeout=15).payload:
            pass  # the camera as its inventory made it (unknown), then the status, retained

        with database.session(write=True) as session:
            camera = session.scalars(select(Camera).where(Camera.camera_id == "cam-9")).one()
            camera.retired_at = dt.datetime.now(dt.UTC)
            camera.retired_by = "operator"
        cleared = reader.next_message(timeout=15)  # the next maintenance run clears it
        assert (cleared.topic, cleared.payload) == (topic, b"")

        late = tls_broker.connect(READER_2)
        late.subscribe_and_wait(topic)
        late.assert_no_message(timeout=1.5)  # nothing retained any more
        reader.assert_no_message(timeout=1.0)  # and cleared once, not at every maintenance run
    finally:
        runner.worker.stop()
        runner.thread.join(10)


def _public_until(reader: BrokerClient, seen: dict[str, object], done: object, timeout: float = 20.0) -> None:
    """Read public messages into ``seen`` (topic -> the latest message, or b"" for a clear) until ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"public topics seen: {seen}"
        message = reader.next_message(timeout=max(0.1, deadline - time.monotonic()))
        if not message.payload:
            seen[message.topic] = b""
            continue
        decoded = codec.decode(message.topic, bytes(message.payload))
        assert isinstance(decoded, codec.Decoded), decoded
        seen[message.topic] = decoded.message


def test_the_province_offices_cameras_and_websites_are_filed_under_16_and_their_former_topics_cleared(
    pki: Pki, tls_broker: TlsBroker, database: Database
) -> None:
    """As /api/v1/regencies/16: what a [province] agent reports is "16"'s, summary included, not its regency's.

    The agent first reports as an ordinary 16.71 agent; once central is restarted with it among the
    province's agents, its camera and website move to regencies/16/ and the 16.71 topics are cleared,
    so a reader that sums topics does not count them twice.
    """
    url = database.url.render_as_string(hide_password=False)
    camera, website = "cam-prov", "web-prov"
    old_camera, old_website = (topics.public_camera("16.71", AGENT_PALEMBANG, camera),
                               topics.public_website("16.71", AGENT_PALEMBANG, website))  # fmt: skip
    new_camera, new_website = (topics.public_camera("16", AGENT_PALEMBANG, camera),
                               topics.public_website("16", AGENT_PALEMBANG, website))  # fmt: skip
    reader = tls_broker.connect(READER)
    reader.subscribe_and_wait(topics.ALL_PUBLIC_TOPICS)
    agent = tls_broker.connect(AGENT_PALEMBANG)
    seen: dict[str, object] = {}

    before = RunningWorker(central_config(pki, tls_broker, url, summary_interval_s=0.1), database)
    before.thread.start()
    try:
        assert before.worker.subscription.subscribed.wait(10), "ingest did not subscribe"
        agent.publish_and_wait(*f.wire(f.birth(AGENT_PALEMBANG, ts=utc_now())))
        inventory_first(agent, database, AGENT_PALEMBANG, [camera])
        agent.publish_and_wait(*f.wire(f.camera_status(AGENT_PALEMBANG, camera, "ok", ts=utc_now())))
        agent.publish_and_wait(*f.wire(f.website_status(AGENT_PALEMBANG, website, ts=utc_now())))
        _public_until(reader, seen, lambda: isinstance(seen.get(old_camera), PublicCameraStatus)
                      and seen[old_camera].status == "ok" and old_website in seen)  # type: ignore[attr-defined]
    finally:
        before.worker.stop()
        before.thread.join(10)

    config = central_config(pki, tls_broker, url, summary_interval_s=0.1)
    config = config.model_copy(update={"province": ProvinceConfig(agents=[AGENT_PALEMBANG], name="Pemprov Uji")})
    after = RunningWorker(config, database)
    after.thread.start()
    try:
        assert after.worker.subscription.subscribed.wait(10), "ingest did not subscribe"

        def moved() -> bool:
            summary, regency = seen.get(topics.public_regency("16")), seen.get(topics.public_regency("16.71"))
            return (seen.get(old_camera) == b"" and seen.get(old_website) == b"" and new_camera in seen
                    and new_website in seen and isinstance(summary, RegencySummary)
                    and isinstance(regency, RegencySummary) and regency.cameras_total == 0)  # fmt: skip

        _public_until(reader, seen, moved)
    finally:
        after.worker.stop()
        after.thread.join(10)
    camera_status, website_status = seen[new_camera], seen[new_website]
    assert isinstance(camera_status, PublicCameraStatus) and isinstance(website_status, PublicWebsiteStatus)
    assert (camera_status.regency, camera_status.status) == ("16", "ok")
    assert (website_status.regency, website_status.availability) == ("16", "up")
    summary, regency = seen[topics.public_regency("16")], seen[topics.public_regency("16.71")]
    assert isinstance(summary, RegencySummary) and isinstance(regency, RegencySummary)
    assert (summary.regency, summary.name, summary.cameras_ok, summary.cameras_total, summary.websites_total,
            summary.agents_total) == ("16", "Pemprov Uji", 1, 1, 1, 1)  # fmt: skip
    assert (regency.cameras_total, regency.websites_total, regency.agents_total) == (0, 0, 0)

    late = tls_broker.connect(READER_2)  # a reader arriving now: what is retained
    for topic in (old_camera, old_website):
        late.subscribe_and_wait(topic, retained=True)
    late.assert_no_message(timeout=1.5)
    late.subscribe_and_wait(new_camera, retained=True)
    assert late.next_message(timeout=5).topic == new_camera


def _ingest_process(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "central.cli", "--config", str(config_path), "ingest"],
            stdout=log_file, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[3],
        )


@pytest.mark.slow
def test_kill_9_mid_stream_loses_and_doubles_nothing(pki: Pki, tls_broker: TlsBroker, sqlite_url: str,
                                                      tmp_path: Path) -> None:
    import tomli_w

    config = central_config(pki, tls_broker, sqlite_url, batch_size=50)
    config_path = tmp_path / "central.toml"
    config_path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude={"web", "alerts"}, exclude_none=True)))
    database = Database(sqlite_url)
    log_path = tmp_path / "ingest.log"

    process = _ingest_process(config_path, log_path)
    deadline = time.monotonic() + 20
    # The worker has subscribed once its session exists: publish a probe until it is stored.
    agent = tls_broker.connect(AGENT_PALEMBANG)
    cameras = [f"cam-{i}" for i in range(50)]
    agent.publish_and_wait(*f.wire(f.inventory(AGENT_PALEMBANG, cameras)))  # the probe: it makes the cameras
    while count(database, IngestedMessage) < 1:
        assert time.monotonic() < deadline, log_path.read_text()
        agent.publish_and_wait(*f.wire(f.inventory(AGENT_PALEMBANG, cameras)))
        time.sleep(0.2)
    before = count(database, CameraCheck)

    total = 3000
    messages = [f.wire(f.camera_status(AGENT_PALEMBANG, f"cam-{i % 50}", "ok")) for i in range(total)]
    killed = threading.Event()

    def kill_when_half_stored() -> None:
        while count(database, CameraCheck) - before < total // 3:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_when_half_stored, daemon=True)
    killer.start()
    for topic, payload in messages:
        agent.publish(topic, payload, qos=1)
    assert killed.wait(30), log_path.read_text()
    process.wait(10)
    stored_at_kill = count(database, CameraCheck) - before
    assert stored_at_kill < total, "the kill came too late to test anything"

    process = _ingest_process(config_path, log_path)
    try:
        deadline = time.monotonic() + 60
        while count(database, CameraCheck) - before < total:
            assert time.monotonic() < deadline, f"stored {count(database, CameraCheck) - before}/{total}"
            time.sleep(0.1)
        with database.session() as session:
            ids = session.scalars(select(IngestedMessage.msg_id)).all()
        assert len(ids) == len(set(ids))
        # Nothing doubled: exactly one check row per message published.
        assert count(database, CameraCheck) - before == total
    finally:
        process.terminate()
        process.wait(10)
        database.dispose()


def test_send_command_reaches_the_agent_and_its_result_comes_back(
    running: RunningWorker, tls_broker: TlsBroker, database: Database
) -> None:
    from central.remote_commands import send_command
    from central.storage.queries import get_command
    from shared.messages import Command

    agent = tls_broker.connect(AGENT_PALEMBANG)
    agent.subscribe_and_wait(topics.command_subscription(AGENT_PALEMBANG))
    agent.publish_and_wait(*f.wire(f.birth(AGENT_PALEMBANG)))
    running.wait_for(lambda: count(database, Agent) == 1)
    command_id = send_command(running.worker.config, AGENT_PALEMBANG, "check_now", "cam-1", requested_by="op",
                              database=database)
    received = codec.decode(*(lambda m: (m.topic, m.payload))(agent.next_message()))
    assert isinstance(received, codec.Decoded) and isinstance(received.message, Command)
    assert received.message.command_id == command_id and received.message.camera_id == "cam-1"
    agent.publish_and_wait(*f.wire(f.command_result(AGENT_PALEMBANG, command_id, ok=True)))

    def done() -> bool:
        with database.session() as session:
            record = get_command(session, command_id)
            return record is not None and record.state == "succeeded"

    running.wait_for(done)


def test_concurrent_command_senders_take_turns_and_both_arrive(
    running: RunningWorker, tls_broker: TlsBroker, database: Database
) -> None:
    # Every sender connects with central's one command certificate, so one client id: two at once would
    # take the session from each other before their PUBACK. The lock file makes them take turns.
    from concurrent.futures import ThreadPoolExecutor

    from central.remote_commands import send_command
    from central.storage.queries import get_command

    agent = tls_broker.connect(AGENT_PALEMBANG)
    agent.subscribe_and_wait(topics.command_subscription(AGENT_PALEMBANG))
    agent.publish_and_wait(*f.wire(f.birth(AGENT_PALEMBANG)))
    running.wait_for(lambda: count(database, Agent) == 1)
    log_before = len(tls_broker.log_text())
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda n: send_command(running.worker.config, AGENT_PALEMBANG, "check_now",
                                                   f"cam-{n}", requested_by="op", database=database), range(4)))
    arrived = {codec.decode(m.topic, m.payload).message.command_id  # type: ignore[union-attr]
               for m in (agent.next_message() for _ in ids)}
    assert arrived == set(ids)
    with database.session() as session:
        assert {get_command(session, i).state for i in ids} == {"sent"}  # type: ignore[union-attr]
    # No sender took another's session on the way (which would have cost it a reconnect and a resend).
    assert f"Client {CENTRAL_COMMANDS} already connected" not in tls_broker.log_text()[log_before:]


# --- systemd notifications and several workers ------------------------------------------------------


def _notify_socket() -> tuple[socket.socket, Path]:
    # A short path of our own: AF_UNIX addresses are limited to ~108 bytes, pytest's tmp_path can exceed it.
    path = Path(tempfile.mkdtemp(prefix="scc-notify-")) / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(15)
    return listener, path


def _drain(listener: socket.socket) -> None:
    """Read the watchdog pings queued so far: Linux queues 10 datagrams (net.unix.max_dgram_qlen), and a
    notification sent to a full queue is dropped after sdnotify's 1 s timeout, STOPPING=1 included."""
    listener.setblocking(False)
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                listener.recv(4096)
    finally:
        listener.setblocking(True)
        listener.settimeout(60)


def _next_state(listener: socket.socket, prefix: str) -> str:
    while True:
        state = listener.recv(4096).decode()
        if state.startswith(prefix):
            return state


def test_worker_tells_systemd_ready_alive_and_stopping(
    pki: Pki, tls_broker: TlsBroker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener, path = _notify_socket()
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping at least every 0.1 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    config = central_config(pki, tls_broker, str(database.url.render_as_string(hide_password=False)))
    runner = RunningWorker(config, database)
    runner.thread.start()
    try:
        assert _next_state(listener, "READY=1")
        assert runner.worker.subscription.subscribed.is_set(), "READY=1 before the subscription was acknowledged"
        started = time.monotonic()
        for _ in range(3):
            _next_state(listener, "WATCHDOG=1")
        assert time.monotonic() - started < 2
    finally:
        runner.worker.stop()
        runner.thread.join(10)
    assert _next_state(listener, "STOPPING=1")
    listener.close()


def _stored_by(log_path: Path) -> int:
    match = re.search(r"ingest stopped: Totals\(received=\d+, stored=(\d+)", log_path.read_text())
    assert match, log_path.read_text()
    return int(match.group(1))


@pytest.mark.slow
def test_two_ingest_processes_share_one_stream(
    pki: Pki, tls_broker: TlsBroker, database: Database, tmp_path: Path
) -> None:
    import tomli_w

    config = central_config(pki, tls_broker, str(database.url.render_as_string(hide_password=False)), batch_size=100)
    config_path = tmp_path / "central.toml"
    config_path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude={"web", "alerts"}, exclude_none=True)))
    workers = []
    for index in range(2):
        listener, path = _notify_socket()
        log_path = tmp_path / f"ingest-{index}.log"
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "central.cli", "--config", str(config_path), "ingest", "--worker", str(index)],
                stdout=log_file, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[3],
                env={**os.environ, "NOTIFY_SOCKET": str(path)},
            )
        workers.append((process, listener, log_path))
    try:
        for _process, listener, log_path in workers:
            try:
                _next_state(listener, "READY=1")  # subscribed: the broker now shares the stream between both
            except TimeoutError:
                pytest.fail(log_path.read_text())
        agent = tls_broker.connect(AGENT_PALEMBANG)
        inventory_first(agent, database, AGENT_PALEMBANG, [f"cam-{i}" for i in range(40)])
        total = 2000
        for i in range(total):
            agent.publish(*f.wire(f.camera_status(AGENT_PALEMBANG, f"cam-{i % 40}", "ok" if i % 7 else "offline")),
                          qos=1)
        deadline = time.monotonic() + 60
        while count(database, CameraCheck) < total:
            assert time.monotonic() < deadline, f"stored {count(database, CameraCheck)}/{total}"
            time.sleep(0.1)
    finally:
        for process, listener, _log_path in workers:
            process.terminate()
            process.wait(20)
            listener.close()
    stored = [_stored_by(log_path) for _process, _listener, log_path in workers]
    assert sum(stored) == total + 1 and min(stored) > 0, stored  # with the inventory
    with database.session() as session:
        ids = session.scalars(select(IngestedMessage.msg_id)).all()
        assert len(ids) == len(set(ids)) == total + 1
    assert count(database, CameraCheck) == total  # every report exactly once


def _supervised(config_path: Path, log_path: Path, notify_path: Path, workers: int) -> subprocess.Popen[bytes]:
    # No WATCHDOG_PID: the supervisor's pid is not known before it starts (systemd sets it to the main pid).
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "central.cli", "--config", str(config_path), "ingest", "--workers", str(workers)],
            stdout=log_file, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[3], env=env,
        )


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
def test_supervised_workers_share_the_stream_and_notify_as_one_service(
    pki: Pki, tls_broker: TlsBroker, database: Database, tmp_path: Path
) -> None:
    import tomli_w

    config = central_config(pki, tls_broker, str(database.url.render_as_string(hide_password=False)), batch_size=100)
    config_path = tmp_path / "central.toml"
    config_path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude={"web", "alerts"}, exclude_none=True)))
    listener, notify_path = _notify_socket()
    listener.settimeout(60)  # three interpreters start and import before READY
    log_path = tmp_path / "ingest.log"
    process = _supervised(config_path, log_path, notify_path, workers=2)
    try:
        try:
            assert _next_state(listener, "READY=1")
        except TimeoutError:
            pytest.fail(log_path.read_text())
        assert len(_children(process.pid)) == 2
        started = time.monotonic()
        for _ in range(3):
            _next_state(listener, "WATCHDOG=1")  # relayed while both children ping
        assert time.monotonic() - started < 10  # every 0.1 s when idle; generous for a loaded machine
        agent = tls_broker.connect(AGENT_PALEMBANG)
        inventory_first(agent, database, AGENT_PALEMBANG, [f"cam-{i}" for i in range(40)])
        total = 2000
        for i in range(total):
            agent.publish(*f.wire(f.camera_status(AGENT_PALEMBANG, f"cam-{i % 40}", "ok" if i % 7 else "offline")),
                          qos=1)
        deadline = time.monotonic() + 60
        while count(database, CameraCheck) < total:
            assert time.monotonic() < deadline, f"stored {count(database, CameraCheck)}/{total}"
            time.sleep(0.1)
    finally:
        _drain(listener)
        process.terminate()
        code = process.wait(30)
    assert code == 0, log_path.read_text()
    assert _next_state(listener, "STOPPING=1")
    listener.close()
    stored = [int(n) for n in re.findall(r"ingest stopped: Totals\(received=\d+, stored=(\d+)", log_path.read_text())]
    assert len(stored) == 2 and sum(stored) == total + 1 and min(stored) > 0, (stored, log_path.read_text())
    with database.session() as session:
        ids = session.scalars(select(IngestedMessage.msg_id)).all()
        assert len(ids) == len(set(ids)) == total + 1
    assert count(database, CameraCheck) == total  # every report exactly once


@pytest.mark.slow
def test_a_dead_worker_takes_the_supervisor_down_for_a_restart(
    pki: Pki, tls_broker: TlsBroker, database: Database, tmp_path: Path
) -> None:
    import tomli_w

    config = central_config(pki, tls_broker, str(database.url.render_as_string(hide_password=False)))
    config_path = tmp_path / "central.toml"
    config_path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude={"web", "alerts"}, exclude_none=True)))
    listener, notify_path = _notify_socket()
    listener.settimeout(60)
    log_path = tmp_path / "ingest.log"
    process = _supervised(config_path, log_path, notify_path, workers=2)
    try:
        _next_state(listener, "READY=1")
        victim, survivor = _children(process.pid)
        os.kill(victim, signal.SIGKILL)
        assert process.wait(30) == 1, log_path.read_text()
        assert not Path(f"/proc/{survivor}").exists()  # stopped and reaped, not left running unsupervised
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        listener.close()


def test_more_workers_than_certificates_is_a_clear_error_before_connecting(
    pki: Pki, tls_broker: TlsBroker, sqlite_url: str, tmp_path: Path
) -> None:
    # Each worker connects with its own certificate (its client id at the broker): the fixture's PKI has
    # central-ingest-1 and -2, so a fourth worker has none; nothing starts, and the error says what to run.
    import tomli_w

    config = central_config(pki, tls_broker, sqlite_url)
    config_path = tmp_path / "central.toml"
    config_path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude={"web", "alerts"}, exclude_none=True)))
    result = subprocess.run(
        [sys.executable, "-m", "central.cli", "--config", str(config_path), "ingest", "--workers", "4"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[3],
    )
    assert result.returncode == 2, result.stderr
    assert str(pki.cert("central-ingest-3")) in result.stderr
    assert f"scc-provision central --dir {pki.dir} --ingest-workers 4" in result.stderr
    assert str(pki.cert("central-ingest-2")) not in result.stderr
