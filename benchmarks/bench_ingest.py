"""Benchmark: sustained ingest of camera-status reports into SQLite vs a bare paho counter on the same stream.

One run: a real mutual-TLS Mosquitto with SCC's generated configuration; two publisher processes (one
per agent certificate) send N realistic CameraStatus reports (QoS 1) as fast as the broker takes them;
two consumers of the same stream, each its own process: ``scc-central ingest`` (shared subscription,
batches, manual acks after commit) and a paho subscriber that only counts (the broker-bound limit).
Figures go to docs/performance.md between the bench:ingest markers.

The publishers are not paho: they write pre-encoded MQTT v5 PUBLISH packets straight onto the TLS
socket, many per write, keeping as many unacknowledged as the broker's CONNACK Receive Maximum allows.
A paho publisher costs more CPU per report than the counter does, and on a 2-core machine that CPU
comes out of the consumers being measured.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import select
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import tomli_w
from sqlalchemy import create_engine, func, text
from sqlalchemy import select as sql_select

from benchmarks.report import write_section
from central.ingest.reader import read_varint
from central.storage.db import Database, normalize_url
from central.storage.migrate import upgrade
from central.storage.models import Camera, CameraCheck, IngestedMessage
from provisioning import operations
from shared import topics
from shared.mqtt import (
    TlsFiles,
    identity_name,
    ingest_worker_purpose,
    make_client,
    session_properties,
    tls_context,
)
from tests.central import factories
from tests.fixtures.broker import AGENT_MUBA, AGENT_PALEMBANG, CENTRAL, Pki, TlsBroker, make_pki

COMMAND = "python -m benchmarks.bench_ingest"
AGENTS = (AGENT_PALEMBANG, AGENT_MUBA)
PACKETS_PER_WRITE = 64
POLL_S = 0.05
# Where the time goes, kept with the figures (from py-spy profiles of this benchmark, not measured by each run).
NOTES = "\n".join([
    "Where one worker's ~85-105 µs per report goes (py-spy, N=1, 150,000 reports): SQLite itself ~21%",
    "(inserts, the camera updates, commits); decoding and validation ~14% (pydantic ~10%); building and",
    "binding the rows in Python ~13% (datetime text ~7%, the checks' JSON ~4%); public republishing ~11%;",
    "paho's network thread ~20% (TLS reads ~10%: Mosquitto sends one TLS record per PUBLISH). What brought",
    "it down from ~150 µs: the reader hands whole PUBLISH packets over straight from its buffer and reads",
    "every waiting TLS record per fill (paho built a Properties object and an MQTTMessage per report); the",
    "checks bound as pydantic's own JSON; camera rows and msg_ids looked up through one json_each",
    "parameter instead of an expanding IN compiled per batch; time-ordered (UUIDv7) msg_ids, so the dedupe",
    "index grows at its right edge; garbage collected on a 10 s timer instead of by allocation counts;",
    "batches of up to 2,000 (each transaction's fixed cost shared by more reports). With 5,000 cameras",
    "instead of 1,000 a batch touches more camera rows: one run each gave N=1 69% and N=2 77%.",
    "With N=2 the workers take turns at SQLite's one writer, and on 2 cores they compete with the counter,",
    "broker and publishers they are measured against.",
])

POSTGRES_NOTES = "\n".join([
    "PostgreSQL runs on the same 2 cores as the broker, publishers, counter and ingest, and its server",
    "processes' CPU is not in the ingest CPU column: every rate here is lower than with SQLite on this",
    "machine, the counter's too. A deployment big enough to want PostgreSQL gives it cores of its own;",
    "what these runs show is that its writers overlap (N=2 against N=1) where SQLite's take turns, and",
    "that nothing is lost or doubled with several workers on it.",
])

# --- raw MQTT v5 publisher (child process) --------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH with no properties."""
    body = _utf8(topic) + struct.pack("!H", packet_id) + b"\x00" + payload
    return b"\x32" + _varint(len(body)) + body


def connect_packet(client_id: str) -> bytes:
    # Protocol "MQTT" v5, clean start, keepalive 60 s, no properties.
    body = _utf8("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60) + b"\x00" + _utf8(client_id)
    return b"\x10" + _varint(len(body)) + body


_PROPERTY_SIZES = {0x01: 1, 0x17: 1, 0x19: 1, 0x24: 1, 0x25: 1, 0x28: 1, 0x29: 1, 0x2A: 1,
                   0x13: 2, 0x21: 2, 0x22: 2, 0x02: 4, 0x11: 4, 0x27: 4}


def receive_maximum(connack_body: bytes) -> int:
    """The broker's Receive Maximum from a CONNACK body (65535 when absent, as MQTT v5 says)."""
    if connack_body[1] >= 0x80:
        raise ConnectionError(f"CONNACK refused: reason 0x{connack_body[1]:02x}")
    properties = read_varint(connack_body, 2, len(connack_body))
    if properties is None:
        raise ConnectionError(f"malformed CONNACK: {connack_body.hex()}")
    length, index = properties
    end = index + length
    while index < end:
        identifier = connack_body[index]
        index += 1
        if identifier == 0x21:
            return int(struct.unpack_from("!H", connack_body, index)[0])
        if identifier in _PROPERTY_SIZES:
            index += _PROPERTY_SIZES[identifier]
        elif identifier == 0x26:  # user property: two strings
            for _ in range(2):
                index += 2 + struct.unpack_from("!H", connack_body, index)[0]
        else:  # strings and binary data (0x0B, a varint, is not sent in CONNACK)
            index += 2 + struct.unpack_from("!H", connack_body, index)[0]
    return 65535


def _read_packet(sock: ssl.SSLSocket, buffer: bytearray) -> tuple[int, bytes]:
    while True:
        remaining = read_varint(buffer, 1, len(buffer))
        if remaining is not None and len(buffer) >= remaining[1] + remaining[0]:
            length, index = remaining
            kind, body = buffer[0], bytes(buffer[index : index + length])
            del buffer[: index + length]
            return kind, body
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buffer += chunk


def publish_stream(args: argparse.Namespace) -> None:
    """Child process: publish the pre-encoded reports in --stream; print the seconds it took."""
    context = tls_context(TlsFiles(Path(args.ca), Path(args.cert), Path(args.key)))
    raw = socket.create_connection((args.host, int(args.port)))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = context.wrap_socket(raw, server_hostname=args.host)
    sock.sendall(connect_packet(f"bench-pub-{uuid.uuid4().hex[:8]}"))
    buffer = bytearray()
    kind, body = _read_packet(sock, buffer)
    assert kind == 0x20, f"expected CONNACK, got 0x{kind:02x}"
    window = receive_maximum(body)
    messages = Path(args.publish_stream).read_bytes().split(b"\n\0\n")
    packets = []
    for index, message in enumerate(messages):
        topic, payload = message.split(b"\0", 1)
        packets.append(publish_packet(topic.decode(), payload, index % 65535 + 1))
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    started = time.perf_counter()
    sent = acked = 0
    total = len(packets)
    while acked < total:
        room = min(window - (sent - acked), total - sent, PACKETS_PER_WRITE)
        if room > 0:
            sock.sendall(b"".join(packets[sent : sent + room]))
            sent += room
        readable = sock.pending() or select.select([sock], [], [], 0 if room > 0 else 30)[0]
        if not readable:
            continue
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buffer += chunk
        while len(buffer) >= 4 and len(buffer) >= 2 + buffer[1]:
            if buffer[0] != 0x40 or (buffer[1] > 2 and buffer[4] >= 0x80):
                raise ConnectionError(f"unexpected packet from the broker: {bytes(buffer[:8]).hex()}")
            del buffer[: 2 + buffer[1]]
            acked += 1
    elapsed = time.perf_counter() - started
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    print(f"{total} {elapsed:.4f}", flush=True)


# --- bare paho counter (child process) --------------------------------------------------------------


def count_stream(args: argparse.Namespace) -> None:
    """Child process: count messages on scc/v1/agents/# until --expect arrive; print the rate."""
    files = TlsFiles(Path(args.ca), Path(args.cert), Path(args.key))
    client = make_client(files)
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


# --- the run -----------------------------------------------------------------------------------------


Child = subprocess.Popen[bytes] | subprocess.Popen[str]


def run(total: int, cameras: int, workers: int = 1, postgres: str | None = None) -> dict[str, float]:
    """One run on a fresh broker and database: SQLite in a temporary directory, or a throw-away PostgreSQL database."""
    children: list[Child] = []
    root = Path(tempfile.mkdtemp(prefix="scc-bench-ingest-"))
    database = _postgres_database(postgres) if postgres else contextlib.nullcontext(f"sqlite:///{root / 'central.db'}")
    with database as db_url:
        try:
            figures = _run(root, db_url, total, cameras, workers, children)
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    return figures


@contextlib.contextmanager
def _postgres_database(admin_url: str) -> Iterator[str]:
    """The URL of a database created on ``admin_url``'s server for one run, dropped afterwards."""
    url = normalize_url(admin_url).set(database=f"scc_bench_{uuid.uuid4().hex[:12]}")
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _tls_args(broker: TlsBroker, pki: Pki, name: str) -> list[str]:
    return ["--host", broker.host, "--port", str(broker.port), "--ca", str(pki.ca_cert), "--cert",
            str(pki.cert(name)), "--key", str(pki.key(name))]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process and its live descendants (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    # `ingest --workers N` is a supervisor whose children do the work.
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(_cpu_s(int(child)) for child in children)


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, and of each worker under a supervisor, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    own = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(_peak_rss_mb(int(child)) for child in children)


def _build_streams(root: Path, total: int, cameras: int) -> list[Path]:
    """One file of (topic, payload) per agent, built before the clock starts."""
    # Reports 20 ms apart, the newest a minute old: a stream of any length stays in the past (central
    # quarantines reports stamped over max_clock_skew_s ahead of its clock).
    start = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=20 * total, minutes=1)
    streams: list[list[bytes]] = [[] for _ in AGENTS]
    for index in range(total):
        agent = AGENTS[index % 2]
        status = "ok" if index % 17 else "degraded"
        report = factories.camera_status(agent, f"cam-{index % cameras}", status,
                                         ts=start + dt.timedelta(milliseconds=20 * index))
        topic, payload = factories.wire(report)
        streams[index % 2].append(topic.encode() + b"\0" + payload)
    paths = []
    for agent, messages in zip(AGENTS, streams, strict=True):
        path = root / f"{agent}.stream"
        path.write_bytes(b"\n\0\n".join(messages))
        paths.append(path)
    return paths


def _run(root: Path, db_url: str, total: int, cameras: int, workers: int, children: list[Child]) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    root.chmod(0o755)
    pki = make_pki(root / "pki")
    # A certificate per ingest worker, plus one more for the counter: a certificate is one client id.
    operations.ensure_central(pki.dir, workers + 1)
    counter_identity = identity_name(CENTRAL, ingest_worker_purpose(workers))
    broker = TlsBroker(pki=pki, run_dir=root / "broker")
    broker.run_dir.mkdir()
    broker.run_dir.chmod(0o755)
    broker.start()
    assert broker.process is not None
    children.append(broker.process)
    database = Database(db_url)
    upgrade(database)
    config = {
        "database": {"url": db_url},
        "broker": {"host": broker.host, "port": broker.port, "ca": str(pki.ca_cert), "cert": str(pki.cert(CENTRAL)),
                   "key": str(pki.key(CENTRAL)), "share_group": "bench"},
        "pki": {"dir": str(pki.dir)},
    }
    config_path = root / "central.toml"
    config_path.write_text(tomli_w.dumps(config))
    with open(root / "ingest.log", "wb") as ingest_log:
        ingest = subprocess.Popen([sys.executable, "-m", "central.cli", "--config", str(config_path), "--log-level",
                                   "WARNING", "ingest", "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=ingest_log)
    children.append(ingest)
    me = [sys.executable, "-m", "benchmarks.bench_ingest"]
    counter = subprocess.Popen([*me, "--count-stream", *_tls_args(broker, pki, counter_identity), "--expect", str(total),
                                "--timeout", "600"], stdout=subprocess.PIPE, text=True)
    children.append(counter)
    assert counter.stdout is not None
    assert counter.stdout.readline().strip() == "ready"
    _wait_for_ingest(broker, pki, database, root, cameras)
    publishers = []
    for agent, stream in zip(AGENTS, _build_streams(root, total, cameras), strict=True):
        publisher = subprocess.Popen([*me, "--publish-stream", str(stream), *_tls_args(broker, pki, agent)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        children.append(publisher)
        publishers.append(publisher)
    for publisher in publishers:
        assert publisher.stdout is not None and publisher.stdout.readline().strip() == "ready"
    with database.session() as session:
        before = session.scalar(sql_select(func.count()).select_from(CameraCheck)) or 0
    cpu_before = {name: _cpu_s(child.pid) for name, child in (("ingest", ingest), ("counter", counter),
                                                              ("broker", broker.process))}
    go_at = dt.datetime.now(dt.UTC)
    for publisher in publishers:
        assert publisher.stdin is not None
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
    stored, done_at = _wait_stored(database, before + total)
    cpu = {name: _cpu_s(child.pid) - cpu_before[name] for name, child in (("ingest", ingest),
                                                                            ("broker", broker.process))}
    publish_s = max(float(p.communicate(timeout=60)[0].split()[-1]) for p in publishers)
    counted, counter_s = counter.communicate(timeout=600)[0].strip().splitlines()[-1].split()
    with database.session() as session:
        first = session.scalar(
            sql_select(func.min(IngestedMessage.received_at)).where(IngestedMessage.received_at >= go_at)
        )
    # First report received to the poll that saw the last one committed (acks follow commits).
    ingest_s = done_at - first.timestamp() if first is not None else 0.0
    peak_rss_mb = _peak_rss_mb(ingest.pid)
    ingest.terminate()
    ingest.wait(30)
    broker.stop()
    database.dispose()
    return {
        "total": total, "publish_s": publish_s, "counted": int(counted), "counter_s": float(counter_s),
        "stored": stored - before, "ingest_s": ingest_s, "load_before": load_before, "ingest_cpu_s": cpu["ingest"],
        "broker_cpu_s": cpu["broker"], "peak_rss_mb": peak_rss_mb, "workers": workers, "postgres": float(not database.is_sqlite),
    }


def _wait_for_ingest(broker: TlsBroker, pki: Pki, database: Database, root: Path, cameras: int) -> None:
    """Until the ingest has subscribed: each agent's inventory (only an inventory makes cameras) is stored."""
    names = [f"cam-{index}" for index in range(cameras)]
    probes = []
    for agent in AGENTS:
        probe = make_client(TlsFiles(pki.ca_cert, pki.cert(agent), pki.key(agent)))
        probe.connect(broker.host, broker.port)
        probe.loop_start()
        probes.append((agent, probe))
    deadline = time.monotonic() + 30
    try:
        while True:
            for agent, probe in probes:
                probe.publish(*factories.wire(factories.inventory(agent, names)), qos=1).wait_for_publish(10)
            with database.session() as session:
                if session.scalar(sql_select(func.count()).select_from(Camera)) == cameras * len(AGENTS):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError((root / "ingest.log").read_text())
            time.sleep(0.2)
    finally:
        for _agent, probe in probes:
            probe.disconnect()
            probe.loop_stop()


def _wait_stored(database: Database, target: int, timeout_s: float = 600) -> tuple[int, float]:
    """(rows stored, wall-clock time they were first all there), polling every POLL_S."""
    deadline = time.monotonic() + timeout_s
    while True:
        with database.session() as session:
            stored = session.scalar(sql_select(func.count()).select_from(CameraCheck)) or 0
        if stored >= target or time.monotonic() > deadline:
            return stored, time.time()
        time.sleep(POLL_S)


def report(runs: list[dict[str, float]], cameras: int, repeat: int = 1, notes: str = "") -> str:
    """The section: one row pair (counter, ingest) per run, each run its own broker, stream and counter."""
    first = runs[0]
    backend = "PostgreSQL" if first["postgres"] else "SQLite"
    workers = ",".join(f"{r['workers']:.0f}" for r in runs[: len(runs) // repeat])
    rows = []
    outcomes: dict[int, list[tuple[float, float, float]]] = {}  # per N: (share of the limit, reports/s, lost)
    for figures in runs:
        counter_rate = figures["counted"] / figures["counter_s"]
        ingest_rate = figures["stored"] / figures["ingest_s"]
        lost = figures["total"] - figures["stored"]
        per_report_us = figures["ingest_cpu_s"] / figures["stored"] * 1e6
        rows.append(
            f"| {figures['workers']:.0f} | {counter_rate:,.0f} ({figures['counted']:.0f} in {figures['counter_s']:.2f} s) "
            f"| {ingest_rate:,.0f} ({figures['stored']:.0f} in {figures['ingest_s']:.2f} s) "
            f"| **{ingest_rate / counter_rate:.0%}** | {lost:.0f} | {per_report_us:.0f} µs "
            f"| {figures['peak_rss_mb']:.0f} MB | {figures['broker_cpu_s']:.1f} s | {figures['load_before']:.1f} |"
        )
        outcomes.setdefault(int(figures["workers"]), []).append((ingest_rate / counter_rate, ingest_rate, lost))
    return "\n".join([
        f"## Ingest: camera-status reports into {'PostgreSQL' if first['postgres'] else 'SQLite (WAL)'}",
        "",
        f"Command: `.venv/bin/{COMMAND} --reports {first['total']:.0f} --cameras {cameras} --workers {workers}"
        f"{f' --repeat {repeat}' if repeat > 1 else ''}{' --postgres URL' if first['postgres'] else ''}` "
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')})",
        "",
        "Two publisher processes (one per agent certificate) send realistic CameraStatus reports (3 checks",
        "each, QoS 1, pre-encoded, as many in flight as the broker's Receive Maximum allows) through the",
        "mutual-TLS broker with SCC's generated configuration. `scc-central ingest --workers N` (N processes",
        "on the shared subscription, central.toml's defaults: batches of up to 2,000, 4,000 in flight, acked",
        "after commit) and a bare paho",
        "subscriber that only counts (the broker-bound limit) consume the same stream in the same run; each",
        "row is its own run (fresh broker and database), the worker counts taking turns when repeated. The",
        "ingest's time runs from its first report",
        "received to the moment the last one was committed (polled every 50 ms). Ingest CPU is per report,",
        "all worker processes together; peak RSS is theirs summed (a supervisor's too), most of it Python's",
        "arenas from the batches in flight and SQLite's page cache (8 MiB per writer connection).",
        "",
        f"| workers | bare paho counter, reports/s | ingest ({backend}), reports/s | of the limit | lost "
        "| ingest CPU per report | ingest peak RSS | broker CPU | load before |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        ("For larger deployments (the goal is set for SQLite), the median run of each N: "
         if first["postgres"] else
         "Goal (>= 75% of the limit and >= 5,000 reports/s, nothing lost), judged on the median run of each N: ")
        + "; ".join(goal_verdict(n, values, judge=not first["postgres"]) for n, values in outcomes.items())
        + ".",
        "Publishers, broker, counter and ingest share the machine's cores (the 1-minute load average before",
        "each run is in the table: other work on the machine lowers both rates). The province's own load is",
        "~140 reports/s.",
        *([f"Other work was running on the machine during these runs (load average up to "
           f"{max(r['load_before'] for r in runs):.1f} before a run): the rates vary ±15% between runs."]
          if max(r["load_before"] for r in runs) > 1.0 else []),
        *(["", notes] if notes else []),
    ])


def goal_verdict(workers: int, outcomes: list[tuple[float, float, float]], *, judge: bool = True) -> str:
    """``N=2 88% (median of 3 runs, 87%-89%) met``: a run that lost a report fails the goal, whatever its rate."""
    shares = [share for share, _rate, _lost in outcomes]
    middle = statistics.median(shares)
    spread = f" (median of {len(shares)} runs, {min(shares):.0%}-{max(shares):.0%})" if len(shares) > 1 else ""
    met = (middle >= 0.75 and statistics.median(rate for _share, rate, _lost in outcomes) >= 5000
           and not any(lost for _share, _rate, lost in outcomes))
    return f"N={workers} {middle:.0%}{spread}" + (f" {'met' if met else 'not met'}" if judge else "")


def main() -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--reports", type=int, default=150_000)
    parser.add_argument("--cameras", type=int, default=1_000)
    parser.add_argument("--workers", default="1,2", help="ingest worker processes; a list (1,2,3) runs each in turn")
    parser.add_argument("--postgres", metavar="URL",
                        help="a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1/test) to create a throw-away "
                             "database on for each run, instead of SQLite; its figures go to their own section")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each worker count, interleaved (this machine's speed drifts between runs)")
    parser.add_argument("--no-doc", action="store_true", help="print the figures without writing the doc")
    parser.add_argument("--count-stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--publish-stream", help=argparse.SUPPRESS)
    for option in ("--host", "--port", "--ca", "--cert", "--key"):
        parser.add_argument(option, help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_stream:
        count_stream(args)
        return 0
    if args.publish_stream:
        publish_stream(args)
        return 0
    runs = [run(args.reports, args.cameras, int(n), args.postgres)
            for _ in range(args.repeat) for n in args.workers.split(",")]
    section = report(runs, args.cameras, args.repeat, POSTGRES_NOTES if args.postgres else NOTES)
    print(section)
    if not args.no_doc:
        write_section("ingest-postgresql" if args.postgres else "ingest", section)
    return 0 if all(r["stored"] == r["total"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
