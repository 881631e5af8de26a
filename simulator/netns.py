"""Throw-away test LANs (Linux bridge + network namespaces, root only) so multicast crosses a real network.

Addresses come from 198.18.0.0/15, the block RFC 2544 reserves for network testing, so they never collide
with the sandbox's own networks. Each TestNetwork picks its own /24 from the process id, so parallel test
workers do not collide either.

    with test_network(namespaces=2) as net:
        camera_ns, client_ns = net.namespaces
        with run_fleet_process(1, extra_args=["--host", camera_ns.address, "--discovery-port", "3702"],
                               command_prefix=net.exec_prefix(camera_ns)) as fleet:
            net.run(client_ns, [sys.executable, "-c", "..."])
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

TEST_SUPERNET_FIRST_OCTETS = (198, 18)


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be created here (not root, no ``ip``, or no CAP_NET_ADMIN)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def netns_available() -> bool:
    """True when this process may create namespaces, bridges and veth pairs (tests skip otherwise)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"sccprobe{secrets.token_hex(3)}"
    if _ip("netns", "add", probe, check=False).returncode != 0:
        return False
    _ip("netns", "del", probe, check=False)
    return True


@dataclass(frozen=True, slots=True)
class Namespace:
    """One host on the test LAN: its namespace name, its address and its interface (``eth0`` inside)."""

    name: str
    address: str
    prefix_length: int = 24
    interface: str = "eth0"


@dataclass(slots=True)
class TestNetwork:
    """A bridge with an address in the root namespace plus any number of attached namespaces."""

    token: str
    third_octet: int
    bridge: str = ""
    namespaces: list[Namespace] = field(default_factory=list)
    _host_links: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge; tests in the root namespace reach hosts through it."""
        return self.address_for(1)

    def address_for(self, host_number: int) -> str:
        first, second = TEST_SUPERNET_FIRST_OCTETS
        return f"{first}.{second + self.third_octet // 256}.{self.third_octet % 256}.{host_number}"

    def create_bridge(self) -> None:
        self.bridge = f"sccbr{self.token}"
        _ip("link", "add", "name", self.bridge, "type", "bridge")
        # Without a querier, IGMP snooping may silently drop the discovery multicast.
        _ip("link", "set", self.bridge, "type", "bridge", "mcast_snooping", "0", check=False)
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_namespace(self) -> Namespace:
        """Create a namespace with ``eth0`` on the bridge, an address, loopback up and a default route."""
        number = len(self.namespaces) + 1
        namespace = Namespace(name=f"scc{self.token}n{number}", address=self.address_for(10 + number))
        host_end = f"scc{self.token}v{number}"
        _ip("netns", "add", namespace.name)
        self.namespaces.append(namespace)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", "tmp" + host_end[3:])
        self._host_links.append(host_end)
        _ip("link", "set", "tmp" + host_end[3:], "netns", namespace.name)
        inside = ["netns", "exec", namespace.name, "ip"]
        _ip(*inside, "link", "set", "tmp" + host_end[3:], "name", namespace.interface)
        _ip(*inside, "addr", "add", f"{namespace.address}/24", "dev", namespace.interface)
        _ip(*inside, "link", "set", namespace.interface, "up")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "route", "add", "default", "via", self.gateway)
        _ip("link", "set", host_end, "master", self.bridge)
        _ip("link", "set", host_end, "up")
        return namespace

    def add_addresses(self, namespace: Namespace, count: int, first_host_number: int = 100) -> str:
        """Give ``namespace`` ``count`` more addresses (for ``scc-sim --camera-ip-base``); returns the first.

        One simulator process can then act as ``count`` cameras, each with its own IP on the LAN.
        """
        if not 0 < count <= 254 - first_host_number + 1:
            raise ValueError(f"at most {255 - first_host_number} extra addresses fit in the /24")
        for number in range(first_host_number, first_host_number + count):
            _ip("netns", "exec", namespace.name, "ip", "addr", "add", f"{self.address_for(number)}/24",
                "dev", namespace.interface)
        return self.address_for(first_host_number)

    def exec_prefix(self, namespace: Namespace) -> list[str]:
        """Prepend to an argv to run it inside ``namespace``."""
        return ["ip", "netns", "exec", namespace.name]

    def run(self, namespace: Namespace, argv: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.exec_prefix(namespace), *argv], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def teardown(self) -> None:
        for namespace in self.namespaces:
            _ip("netns", "del", namespace.name, check=False)
        for link in self._host_links:
            _ip("link", "del", link, check=False)
        if self.bridge:
            _ip("link", "del", self.bridge, check=False)
        self.namespaces.clear()
        self._host_links.clear()


@contextlib.contextmanager
def test_network(namespaces: int = 2) -> Iterator[TestNetwork]:
    """A bridge plus ``namespaces`` hosts on 198.18.x.0/24, removed again on exit (even on failure)."""
    if not netns_available():
        raise NetnsUnavailable("creating network namespaces needs root and iproute2")
    token = secrets.token_hex(2)
    # Spread over the /15 (512 /24s) by pid and a random token, so parallel workers get different LANs.
    network = TestNetwork(token=token, third_octet=(os.getpid() * 7 + int(token, 16)) % 512)
    try:
        network.create_bridge()
        for _ in range(namespaces):
            network.add_namespace()
        yield network
    finally:
        network.teardown()


# pytest would otherwise try to collect these as test classes/functions when imported into a test module.
TestNetwork.__test__ = False  # type: ignore[attr-defined]
test_network.__test__ = False  # type: ignore[attr-defined]
