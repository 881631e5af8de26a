"""End to end with the real mosquitto_pub and mosquitto_sub, configured only from the enrollment bundles."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared import topics
from tests.fixtures.broker import CENTRAL, READER, TlsBroker

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("mosquitto_pub", "mosquitto_sub", "stdbuf")),
    reason="needs the mosquitto-clients package and coreutils' stdbuf",
)


@dataclass(frozen=True)
class Unpacked:
    """A bundle unpacked as a site would: its TOML and the TLS files it names."""

    root: Path
    config: dict[str, dict[str, object]]

    def tls_args(self) -> list[str]:
        tls = self.config["tls"]
        return [
            "--cafile",
            str(self.root / str(tls["ca_file"])),
            "--cert",
            str(self.root / str(tls["cert_file"])),
            "--key",
            str(self.root / str(tls["key_file"])),
        ]


def unpack(bundle: Path, into: Path) -> Unpacked:
    # By hand rather than extractall(filter="data"), which Debian 12's Python 3.11.2 predates.
    into.mkdir(parents=True)
    with tarfile.open(bundle) as archive:
        for member in archive.getmembers():
            assert member.isfile() and "/" not in member.name and member.name not in (".", ".."), member.name
            target = into / member.name
            target.write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]
            target.chmod(member.mode)
    (config_file,) = into.glob("*.toml")
    return Unpacked(into, tomllib.loads(config_file.read_text()))


def client_args(broker: TlsBroker, unpacked: Unpacked) -> list[str]:
    # The bundle's host (127.0.0.1 here) must match the broker certificate's IP SAN; only the port is the
    # test broker's own, since the bundle carries the production port.
    host = str(unpacked.config["broker"]["host"])
    return ["-V", "mqttv5", "-h", host, "-p", str(broker.port), "-q", "1", *unpacked.tls_args()]


def central_files(broker: TlsBroker) -> list[str]:
    pki = broker.pki
    files = ["--cafile", str(pki.ca_cert), "--cert", str(pki.cert(CENTRAL)), "--key", str(pki.key(CENTRAL))]
    return ["-V", "mqttv5", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", *files]


def start_subscriber(args: list[str], topic: str) -> subprocess.Popen[str]:
    """mosquitto_sub for one live message (-R skips what other tests left retained), once subscribed."""
    # stdbuf: mosquitto_sub's stdout is a pipe here, and block buffering would hide the SUBACK line.
    process = subprocess.Popen(
        ["stdbuf", "-oL", "mosquitto_sub", *args, "-t", topic, "-C", "1", "-W", "15", "-v", "-d", "-R"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "received SUBACK" in line:
            return process
    process.wait()
    raise AssertionError(f"mosquitto_sub exited {process.returncode} before subscribing")


def received_lines(process: subprocess.Popen[str]) -> list[str]:
    output, _ = process.communicate(timeout=20)
    return [line for line in output.splitlines() if not line.startswith(("Client ", "Subscribed "))]


def test_agent_bundle_publishes_with_mosquitto_pub(tls_broker: TlsBroker, tmp_path: Path) -> None:
    name = tls_broker.pki.provision_agent(regency="16.02")
    agent = unpack(tls_broker.pki.bundle(name), tmp_path / "agent")
    assert agent.config["agent"] == {"name": name, "regency": "16.02"}
    subscriber = start_subscriber(central_files(tls_broker), topics.ALL_AGENT_TOPICS)

    published = subprocess.run(
        ["mosquitto_pub", *client_args(tls_broker, agent), "-t", topics.metrics(name), "-m", "from-bundle"],
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert published.returncode == 0, published.stderr
    assert received_lines(subscriber) == [f"{topics.metrics(name)} from-bundle"]


def test_agent_bundle_cannot_publish_for_another_agent(tls_broker: TlsBroker, tmp_path: Path) -> None:
    name = tls_broker.pki.provision_agent(regency="16.03")
    agent = unpack(tls_broker.pki.bundle(name), tmp_path / "agent")

    published = subprocess.run(
        ["mosquitto_pub", *client_args(tls_broker, agent), "-t", topics.metrics("someone-else"), "-m", "x"],
        capture_output=True,
        text=True,
        timeout=20,
    )

    # mosquitto_pub reports the PUBACK's 0x87 as a warning but still exits 0.
    assert "Not authorized" in published.stderr


def test_reader_bundle_receives_public_topics_with_mosquitto_sub(
    tls_broker: TlsBroker, tmp_path: Path
) -> None:
    reader = unpack(tls_broker.pki.bundle(READER), tmp_path / "reader")
    subscriber = start_subscriber(client_args(tls_broker, reader), str(reader.config["reader"]["subscribe"]))

    published = subprocess.run(
        ["mosquitto_pub", *central_files(tls_broker), "-t", topics.PUBLIC_ALERTS_TOPIC, "-m", "banjir"],
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert published.returncode == 0, published.stderr
    assert received_lines(subscriber) == [f"{topics.PUBLIC_ALERTS_TOPIC} banjir"]
