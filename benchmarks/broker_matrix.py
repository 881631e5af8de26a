"""Which MQTT v5 brokers that install here honour what SCC's contract uses: a table for docs/scaling.md.

Each candidate is started with certificates made by the project's own provisioning code and probed
with paho (MQTT v5) for: mutual-TLS identity (the certificate alone logs in), the per-agent ACL (an
agent may publish in its own subtree and not in another's), shared subscriptions (``$share/...``: each
message to exactly one member), retained messages, persistent sessions (clean_start=false with a
session expiry: QoS 1 messages queued while away) and QoS 1 delivery.

- Mosquitto (Debian): the generated ``mosquitto.conf`` and ACL, unchanged.
- ejabberd (Debian, ``mod_mqtt``): installed with apt when missing (non-interactive), run by ``erl``
  as the unprivileged ``ejabberd`` user with its config, spool and log in a temporary directory. Its
  MQTT listener authenticates by user name and password (or OAuth) only, so it is probed with
  registered users named like the certificates, and ACL rules written with ``%u``. Two nodes are then
  joined into a cluster (same cookie, ``join_cluster``) and probed across nodes.

    python -m benchmarks.broker_matrix [--no-ejabberd]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

from shared import topics
from tests.fixtures.broker import (
    AGENT_MUBA,
    AGENT_PALEMBANG,
    CENTRAL,
    CENTRAL_OBSERVER,
    BrokerClient,
    Pki,
    TlsBroker,
    free_port,
    make_pki,
)

TIMEOUT = 10.0
PASSWORD = "matrix-probe"  # ejabberd only: it cannot log in by certificate
FEATURES = (
    "mTLS identity",
    "ACL per agent (%u)",
    "shared subscription",
    "retained",
    "persistent session",
    "QoS 1",
)


@dataclass
class Endpoint:
    """How to reach one broker (node): host, port, and whether the certificate alone authenticates."""

    pki: Pki
    port: int
    by_certificate: bool
    closed_by_broker: dict[str, str] = field(default_factory=dict)  # client name -> DISCONNECT reason

    def connect(self, name: str, *, client_id: str | None = None, clean_start: bool = True,
                session_expiry: int | None = None, certificate: bool = True,
                password: bool = True) -> tuple[BrokerClient, bool]:  # fmt: skip
        """Connect as ``name``; returns the client and the CONNACK's session-present flag."""
        client = BrokerClient(
            name, client_id or (name if self.by_certificate else f"{name}-{uuid.uuid4().hex[:6]}")
        )
        client.tls_set(ca_certs=str(self.pki.ca_cert), certfile=str(self.pki.cert(name)) if certificate else None,
                       keyfile=str(self.pki.key(name)) if certificate else None)  # fmt: skip
        if password and not self.by_certificate:
            client.username_pw_set(name, PASSWORD)
        result: dict[str, object] = {}

        def on_connect(
            _c: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, reason: object, _p: object
        ) -> None:
            result.update(reason=reason, present=flags.session_present)

        def on_disconnect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
            self.closed_by_broker[name] = str(reason)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        properties = None
        if session_expiry is not None:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = session_expiry
        client.connect("localhost", self.port, keepalive=30, clean_start=clean_start, properties=properties)
        client.loop_start()
        deadline = time.monotonic() + TIMEOUT
        while "reason" not in result and time.monotonic() < deadline:
            time.sleep(0.02)
        reason = result.get("reason")
        if reason is None or getattr(reason, "is_failure", True):
            client.loop_stop()
            raise ConnectionError(f"CONNECT of {name} refused: {reason}")
        return client, bool(result["present"])


def _received(client: BrokerClient, within: float = 2.0) -> list[mqtt.MQTTMessage]:
    messages = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            messages.append(client.next_message(timeout=max(deadline - time.monotonic(), 0.01)))
    return messages


def probe_identity(endpoint: Endpoint, _other: Endpoint) -> str:
    try:
        client, _ = endpoint.connect(AGENT_PALEMBANG, password=False)  # the certificate, nothing else
    except (ConnectionError, OSError) as error:
        return f"no: {error} (logs in by password only)"
    client.close()
    try:
        anonymous, _ = endpoint.connect(AGENT_PALEMBANG, certificate=False)
    except (ConnectionError, OSError):
        return "yes"
    anonymous.close()
    return "no: a client without a certificate got in"


def probe_acl(endpoint: Endpoint, _other: Endpoint) -> str:
    agent, _ = endpoint.connect(AGENT_PALEMBANG)
    try:
        own = agent.publish_and_wait(topics.metrics(AGENT_PALEMBANG), b"{}")
        foreign = agent.publish_and_wait(topics.metrics(AGENT_MUBA), b"{}")
    except (TimeoutError, ConnectionError) as error:
        return f"no: {error}"
    finally:
        agent.close()
    if own.is_failure or not foreign.is_failure:
        return f"no: own subtree {own}, another agent's {foreign}"
    return f"yes (another agent's subtree: {foreign})"


def probe_shared(endpoint: Endpoint, other: Endpoint) -> str:
    share = f"$share/matrix/{topics.AGENTS}/{AGENT_PALEMBANG}/#"
    members = [endpoint.connect(CENTRAL)[0], other.connect(CENTRAL_OBSERVER)[0]]
    agent, _ = endpoint.connect(AGENT_PALEMBANG)
    try:
        for member in members:
            try:
                reasons = member.subscribe_and_wait(share)
            except TimeoutError:
                return f"no: SUBSCRIBE answered by DISCONNECT: {({**endpoint.closed_by_broker, **other.closed_by_broker}).get(member.name)}"
            if reasons[0].is_failure:
                return f"no: SUBACK {reasons[0]}"
        for index in range(10):
            agent.publish_and_wait(topics.metrics(AGENT_PALEMBANG), str(index).encode())
        counts = [len(_received(member)) for member in members]
    finally:
        for client in (*members, agent):
            client.close()
    if sum(counts) != 10:
        return f"no: 10 sent, members got {counts}"
    return f"yes (split {counts[0]}/{counts[1]})"


def probe_retained(endpoint: Endpoint, other: Endpoint) -> str:
    agent, _ = endpoint.connect(AGENT_PALEMBANG)
    agent.publish_and_wait(topics.availability(AGENT_PALEMBANG), b"online", retain=True)
    agent.close()
    reader, _ = other.connect(CENTRAL_OBSERVER)
    try:
        reader.subscribe_and_wait(topics.availability(AGENT_PALEMBANG), retained=True)
        messages = _received(reader, 4.0)
    finally:
        reader.close()
    return (
        "yes"
        if any(m.retain and m.payload == b"online" for m in messages)
        else "no: not delivered to a new subscriber"
    )


def probe_session(endpoint: Endpoint, other: Endpoint) -> str:
    client_id = CENTRAL_OBSERVER if endpoint.by_certificate else f"{CENTRAL_OBSERVER}-persistent"
    central, _ = endpoint.connect(CENTRAL_OBSERVER, client_id=client_id, clean_start=True, session_expiry=300)
    central.subscribe_and_wait(topics.metrics(AGENT_PALEMBANG))
    central.close()
    agent, _ = other.connect(AGENT_PALEMBANG)
    agent.publish_and_wait(topics.metrics(AGENT_PALEMBANG), b"while-away")
    agent.close()
    again, present = other.connect(
        CENTRAL_OBSERVER, client_id=client_id, clean_start=False, session_expiry=300
    )
    try:
        payloads = [m.payload for m in _received(again, 3.0)]
    finally:
        again.close()
    if present and b"while-away" in payloads:
        return "yes"
    return f"no: session present {present}, queued message {'delivered' if payloads else 'lost'}"


def probe_qos1(endpoint: Endpoint, other: Endpoint) -> str:
    reader, _ = other.connect(CENTRAL)
    agent, _ = endpoint.connect(AGENT_PALEMBANG)
    try:
        reader.subscribe_and_wait(topics.metrics(AGENT_PALEMBANG))
        reason = agent.publish_and_wait(topics.metrics(AGENT_PALEMBANG), b"q1")
        messages = _received(reader, 2.0)
    finally:
        reader.close()
        agent.close()
    ok = not reason.is_failure and any(m.qos == 1 and m.payload == b"q1" for m in messages)
    return "yes" if ok else f"no: PUBACK {reason}, delivered {[m.qos for m in messages]}"


PROBES: tuple[Callable[[Endpoint, Endpoint], str], ...] = (
    probe_identity, probe_acl, probe_shared, probe_retained, probe_session, probe_qos1,
)  # fmt: skip


def run_probes(endpoint: Endpoint, other: Endpoint) -> list[str]:
    results = []
    for probe in PROBES:
        try:
            results.append(probe(endpoint, other))
        except Exception as error:  # a probe that cannot even run is a "no" with its reason
            results.append(f"no: {type(error).__name__}: {error}")
    return results


# --- Mosquitto -------------------------------------------------------------------------------------


@contextlib.contextmanager
def mosquitto(pki: Pki, run_dir: Path) -> Iterator[Endpoint]:
    broker = TlsBroker(pki, run_dir)
    broker.start()
    try:
        yield Endpoint(pki, broker.port, by_certificate=True)
    finally:
        broker.stop()


# --- ejabberd --------------------------------------------------------------------------------------

EJABBERD_CONFIG = """
hosts: [localhost]
loglevel: warning
certfiles: ["{dir}/server.pem"]
auth_method: [internal]
listen:
  - port: {port}
    ip: "127.0.0.1"
    module: mod_mqtt
    tls: true
modules:
  mod_mqtt:
    session_expiry: 1h
    access_publish:
      "scc/v1/agents/%u/#": [allow]
      "#": [deny]
    access_subscribe:
      "#": [allow]
"""


def ejabberd_ebin() -> str:
    """The ejabberd code directory; apt-installs the package first when it is missing."""
    found = glob.glob("/usr/lib/*/ejabberd-*/ebin")
    if not found:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "ejabberd"], check=True, env=env
        )
        found = glob.glob("/usr/lib/*/ejabberd-*/ebin")
    return found[0]


class EjabberdNode:
    """One ``erl`` node running ejabberd from a temp dir, as the ejabberd user when started by root."""

    def __init__(self, name: str, root: Path, pki: Pki, cookie: str) -> None:
        self.node = f"{name}@localhost"
        self.dir = root / name
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.cookie = cookie
        self.ebin = ejabberd_ebin()
        pem = pki.layout.broker_cert.read_text() + pki.layout.broker_key.read_text()
        (self.dir / "server.pem").write_text(pem)
        (self.dir / "ejabberd.yml").write_text(EJABBERD_CONFIG.format(dir=self.dir, port=self.port))
        if os.geteuid() == 0:
            shutil.chown(root, "ejabberd", "ejabberd")
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, "ejabberd", "ejabberd")
        self.process: subprocess.Popen[bytes] | None = None

    def _erl(self, *args: str) -> list[str]:
        drop = (
            ["setpriv", "--reuid=ejabberd", "--regid=ejabberd", "--init-groups"] if os.geteuid() == 0 else []
        )
        return [*drop, "erl", "-setcookie", self.cookie, "-noinput", "-pa", self.ebin, *args]

    def _env(self) -> dict[str, str]:
        return dict(os.environ, HOME=str(self.dir), EJABBERD_CONFIG_PATH=str(self.dir / "ejabberd.yml"),
                    EJABBERD_LOG_PATH=str(self.dir / "ejabberd.log"))  # fmt: skip

    def start(self) -> None:
        command = self._erl("-sname", self.node, "-mnesia", "dir", f'"{self.dir}/db"', "-s", "ejabberd")
        log = (self.dir / "erl.out").open("wb")
        self.process = subprocess.Popen(command, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while self.ctl("status", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"ejabberd {self.node} did not start: see {self.dir}/erl.out, ejabberd.log"
                )
            time.sleep(1)

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = self._erl("-hidden", "-sname", f"ctl{uuid.uuid4().hex[:6]}@localhost", "-s", "ejabberd_ctl",
                            "-extra", self.node, *args)  # fmt: skip
        result = subprocess.run(command, env=self._env(), capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"ejabberdctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.ctl("stop", check=False)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def ejabberd_cluster(pki: Pki, root: Path) -> Iterator[tuple[Endpoint, Endpoint, str]]:
    """Two nodes; the second joins the first. Yields both endpoints and what join_cluster said."""
    cookie = uuid.uuid4().hex
    nodes = [EjabberdNode(name, root, pki, cookie) for name in ("scc1", "scc2")]
    try:
        nodes[0].start()
        for user in (AGENT_PALEMBANG, AGENT_MUBA, CENTRAL, CENTRAL_OBSERVER):
            nodes[0].ctl("register", user, "localhost", PASSWORD)
        nodes[1].start()
        joined = nodes[1].ctl("join_cluster", nodes[0].node, check=False)
        members = nodes[0].ctl("list_cluster", check=False).stdout.split()
        status = (
            f"joined: {', '.join(members)}" if joined.returncode == 0 else f"join failed: {joined.stdout}"
        )
        yield Endpoint(pki, nodes[0].port, False), Endpoint(pki, nodes[1].port, False), status
    finally:
        for node in reversed(nodes):
            node.stop()


def table(rows: list[tuple[str, list[str]]]) -> str:
    lines = ["| broker | " + " | ".join(FEATURES) + " |", "| --- |" + " --- |" * len(FEATURES)]
    lines += [
        f"| {name} | " + " | ".join(cell.replace("|", "/") for cell in cells) + " |" for name, cells in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-ejabberd", action="store_true", help="probe Mosquitto only")
    args = parser.parse_args()
    rows: list[tuple[str, list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="scc-broker-matrix-") as temp:
        root = Path(temp)
        os.chmod(root, 0o755)  # the brokers run as their own users and read the PKI
        pki = make_pki(root / "pki")
        version = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[0]
        with mosquitto(pki, root / "mosquitto") as endpoint:
            rows.append((version, run_probes(endpoint, endpoint)))
        if not args.no_ejabberd:
            ebin = ejabberd_ebin()
            release = Path(ebin).parent.name
            with ejabberd_cluster(pki, root / "ejabberd") as (first, second, status):
                rows.append((f"{release} mod_mqtt, one node", run_probes(first, first)))
                rows.append((f"{release} mod_mqtt, across 2 nodes ({status})", run_probes(first, second)))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
