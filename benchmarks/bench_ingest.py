"""Benchmark: sustained ingest of camera-status reports into SQLite vs a bare paho counter on the same stream.

One run: a real mutual-TLS Mosquitto with SCC's generated configuration, two agents publishing N
realistic CameraStatus reports (QoS 1) as fast as the broker takes them, and two consumers of the same
stream, each its own process: ``scc-central ingest`` (shared subscription, batches, manual acks after
commit) and a paho subscriber that only counts (the broker-bound limit). Figures go to
docs/performance.md between the bench:ingest markers.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import tomli_w
from sqlalchemy import func, select

from central.storage.db import Database
from central.storage.migrate import upgrade
from central.storage.models import CameraCheck, IngestedMessage
from shared import topics
from shared.mqtt import TlsFiles, make_client, session_properties
from tests.central import factories
from tests.fixtures.broker import AGENT_MUBA, AGENT_PALEMBANG, CENTRAL, Pki, TlsBroker, make_pki

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
START, END = "<!-- bench:ingest:start -->", "<!-- bench:ingest:end -->"
COMMAND = "python -m benchmarks.bench_ingest"


def count_stream(args: argparse.Namespace) -> None:
    """Child process: count messages on scc/v1/agents/# until --expect arrive; print the rate."""
    files = TlsFiles(Path(args.ca), Path(args.cert), Path(args.key))
    client = make_client(f"counter-{uuid.uuid4().hex[:6]}", files)
    times: list[float] = []
    done = threading.Event()
    ready = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            times.append(time.perf_counter())
            if len(times) >= args.expect:
                done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *_a: ready.set()
    client.on_connect = lambda c, *_a: c.subscribe(topics.ALL_AGENT_TOPICS, qos=1)
    properties = session_properties(300)
    properties.ReceiveMaximum = 1000
    client.connect(args.host, int(args.port), properties=properties)
    client.loop_start()
    ready.wait(10)
    print("ready", flush=True)
    done.wait(args.timeout)
    client.disconnect()
    client.loop_stop()
    elapsed = (times[-1] - times[0]) if len(times) > 1 else 0.0
    print(f"{len(times)} {elapsed:.4f}", flush=True)


def _publisher(broker: TlsBroker, pki: Pki, name: str) -> mqtt.Client:
    client = make_client(f"{name}-bench", TlsFiles(pki.ca_cert, pki.cert(name), pki.key(name)))
    client.max_inflight_messages_set(1000)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def run(total: int, cameras: int) -> dict[str, float]:
    children: list[subprocess.Popen[bytes] | subprocess.Popen[str]] = []
    try:
        return _run(total, cameras, children)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _run(total: int, cameras: int, children: list[subprocess.Popen[bytes] | subprocess.Popen[str]]) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="scc-bench-ingest-"))
    root.chmod(0o755)
    pki = make_pki(root / "pki")
    broker = TlsBroker(pki=pki, run_dir=root / "broker")
    broker.run_dir.mkdir()
    broker.run_dir.chmod(0o755)
    broker.start()
    assert broker.process is not None
    children.append(broker.process)
    db_url = f"sqlite:///{root / 'central.db'}"
    database = Database(db_url)
    upgrade(database)
    config = {
        "database": {"url": db_url},
        "broker": {"host": broker.host, "port": broker.port, "ca": str(pki.ca_cert), "cert": str(pki.cert(CENTRAL)),
                   "key": str(pki.key(CENTRAL)), "client_id": "bench-ingest", "share_group": "bench"},
        "pki": {"dir": str(pki.dir)},
        "ingest": {"batch_size": 500, "batch_interval_s": 0.05, "receive_maximum": 1000},
    }
    config_path = root / "central.toml"
    config_path.write_text(tomli_w.dumps(config))
    with open(root / "ingest.log", "wb") as ingest_log:
        ingest = subprocess.Popen([sys.executable, "-m", "central.cli", "--config", str(config_path), "--log-level",
                                   "WARNING", "ingest"], stdout=subprocess.DEVNULL, stderr=ingest_log)
    children.append(ingest)
    counter = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_ingest", "--count-stream", "--host", broker.host, "--port",
         str(broker.port), "--ca", str(pki.ca_cert), "--cert", str(pki.cert(CENTRAL)), "--key",
         str(pki.key(CENTRAL)), "--expect", str(total), "--timeout", "600"],
        stdout=subprocess.PIPE, text=True,
    )
    children.append(counter)
    assert counter.stdout is not None
    assert counter.stdout.readline().strip() == "ready"
    # Wait for the ingest's subscription: a probe report must be stored.
    agents = [_publisher(broker, pki, name) for name in (AGENT_PALEMBANG, AGENT_MUBA)]
    deadline = time.monotonic() + 30
    while True:
        agents[0].publish(*factories.wire(factories.inventory(AGENT_PALEMBANG, ["probe"])), qos=1).wait_for_publish(10)
        with database.session() as session:
            if session.scalar(select(func.count()).select_from(IngestedMessage)):
                break
        if time.monotonic() > deadline:
            raise RuntimeError((root / "ingest.log").read_text())
        time.sleep(0.2)
    # Build the stream first so publishing is not slowed by the builders.
    stream = []
    for index in range(total):
        agent = (AGENT_PALEMBANG, AGENT_MUBA)[index % 2]
        status = "ok" if index % 17 else "degraded"
        stream.append((agents[index % 2], factories.wire(factories.camera_status(agent, f"cam-{index % cameras}", status))))
    started = time.perf_counter()
    for client, (topic, payload) in stream:
        client.publish(topic, payload, qos=1)
    published_s = time.perf_counter() - started
    counted_line = counter.communicate(timeout=600)[0].strip().splitlines()[-1]
    counted, counter_s = counted_line.split()
    deadline = time.monotonic() + 600
    while True:
        with database.session() as session:
            stored = session.scalar(select(func.count()).select_from(CameraCheck)) or 0
            first, last = session.execute(
                select(func.min(IngestedMessage.received_at), func.max(IngestedMessage.received_at))
                .where(IngestedMessage.agent_name.in_((AGENT_PALEMBANG, AGENT_MUBA)))
            ).one()
        if stored >= total or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ingest_s = (last - first).total_seconds()
    ingest.terminate()
    ingest.wait(30)
    for client in agents:
        client.disconnect()
        client.loop_stop()
    broker.stop()
    database.dispose()
    return {
        "total": total, "publish_s": published_s, "counted": int(counted), "counter_s": float(counter_s),
        "stored": stored, "ingest_s": ingest_s,
    }


def report(figures: dict[str, float], cameras: int) -> str:
    counter_rate = figures["counted"] / figures["counter_s"]
    ingest_rate = figures["stored"] / figures["ingest_s"]
    lost = figures["total"] - figures["stored"]
    return "\n".join([
        START,
        "## Ingest: camera-status reports into SQLite (WAL)",
        "",
        f"Command: `{COMMAND} --reports {figures['total']:.0f} --cameras {cameras}` "
        f"({platform.node()}, {platform.python_version()}, {time.strftime('%Y-%m-%d')})",
        "",
        "Two agents publish realistic CameraStatus reports (3 checks each, QoS 1) through the mutual-TLS broker;",
        "`scc-central ingest` (its own process) and a bare paho subscriber that only counts (the broker-bound",
        "limit) consume the same stream in the same run.",
        "",
        "| consumer | reports | seconds | reports/s |",
        "|---|---:|---:|---:|",
        f"| bare paho counter | {figures['counted']:.0f} | {figures['counter_s']:.2f} | {counter_rate:,.0f} |",
        f"| scc-central ingest (SQLite) | {figures['stored']:.0f} | {figures['ingest_s']:.2f} | {ingest_rate:,.0f} |",
        "",
        f"Ingest reached **{ingest_rate / counter_rate:.0%}** of the broker-bound limit; lost: **{lost:.0f}**.",
        f"Publishing took {figures['publish_s']:.2f}s. The province's own load is ~140 reports/s.",
        END,
    ])


def write_doc(section: str) -> None:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--reports", type=int, default=60_000)
    parser.add_argument("--cameras", type=int, default=2_000)
    parser.add_argument("--count-stream", action="store_true", help=argparse.SUPPRESS)
    for option in ("--host", "--port", "--ca", "--cert", "--key"):
        parser.add_argument(option, help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_stream:
        count_stream(args)
        return 0
    figures = run(args.reports, args.cameras)
    section = report(figures, args.cameras)
    print(section)
    write_doc(section)
    return 0 if figures["stored"] == figures["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
