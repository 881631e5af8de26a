"""Discovery on a real (namespaced) LAN: the agent finds multicast cameras with WS-Discovery Probe on
239.255.255.250, and cameras that ignore multicast by probing the configured range one address at a time,
whatever discovery dialect each camera speaks."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.discovery_dialects import DIALECTS
from simulator.netns import netns_available, test_network
from simulator.testing import run_fleet_process
from tests.edge_agent.conftest import write_config

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not netns_available(), reason="needs root to create network namespaces"),
]


def test_multicast_cameras_and_unicast_only_cameras_in_a_range(tmp_path: Path) -> None:
    with test_network(namespaces=3) as net:
        agent_ns, multicast_ns, unicast_ns = net.namespaces  # .11, .12, .13 on the bridge
        # Each simulator process is several cameras, each on its own address of its host's LAN interface.
        multicast_base = net.add_addresses(multicast_ns, 2, first_host_number=100)
        unicast_base = net.add_addresses(unicast_ns, 2, first_host_number=110)
        scenario = tmp_path / "other-vendor.toml"
        scenario.write_text("seed = 7\n")  # other serials and endpoint references than the first fleet
        multicast_args = ["--host", multicast_ns.address, "--camera-ip-base", multicast_base,
                          "--discovery-port", "3702", "--no-rtsp"]
        # A camera that never joined the multicast group (another VLAN, or multicast off): unicast only.
        unicast_args = ["--host", unicast_ns.address, "--camera-ip-base", unicast_base,
                        "--discovery-port", "3702", "--no-multicast", "--no-rtsp"]
        with (
            run_fleet_process(2, extra_args=multicast_args, command_prefix=net.exec_prefix(multicast_ns)) as lan,
            run_fleet_process(2, extra_args=unicast_args, command_prefix=net.exec_prefix(unicast_ns),
                              scenario_file=scenario) as routed,
        ):
            assert lan.descriptor.multicast and not routed.descriptor.multicast
            camera = lan.cameras[0]
            # The configured range holds the unicast-only host (.13) but not the multicast one (.12).
            range_cidr = f"{unicast_ns.address.rsplit('.', 1)[0]}.12/30"
            common = {"timeouts": {"onvif_s": 5},
                      "networks": [{"cidr": str(ipaddress.ip_network(f"{agent_ns.address}/24", strict=False)), "username": camera.username,
                                    "password": camera.password}]}
            both = write_config(tmp_path / "both.toml", "agent-lan", tmp_path / "state-both", **common,
                                discovery={"ranges": [range_cidr], "listen_s": 3.0, "repeats": 3})
            multicast_only = write_config(tmp_path / "multicast.toml", "agent-lan", tmp_path / "state-m", **common,
                                          discovery={"listen_s": 3.0, "repeats": 3})
            # The agent's own discovery, run inside the agent's namespace like on the regency box.
            processes = {
                name: subprocess.Popen(
                    [*net.exec_prefix(agent_ns), sys.executable, "-m", "edge_agent.cli", "--config", str(path),
                     "discover", "--json"],
                    cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for name, path in (("both", both), ("multicast", multicast_only))
            }
            outputs = {}
            for name, process in processes.items():
                out, err = process.communicate(timeout=60)
                assert process.returncode == 0, f"{name}: {err}"
                outputs[name] = {row["endpoint_ref"]: row for row in json.loads(out)}

    expected = {c.endpoint_reference: ("multicast", c) for c in lan.cameras}
    expected |= {c.endpoint_reference: ("unicast", c) for c in routed.cameras}
    assert len(expected) == 4, "the two simulated fleets must not share identities"
    found = outputs["both"]
    assert set(found) == set(expected)
    for endpoint_ref, (method, simulated) in expected.items():
        row = found[endpoint_ref]
        assert row["method"] == method, f"{simulated.host}: found by {row['method']}, expected {method}"
        assert (row["host"], row["port"]) == (simulated.host, simulated.onvif_port)
        # ...and identified over ONVIF across the bridge, with the network's default credentials.
        assert (row["serial"], row["mac"]) == (simulated.serial, simulated.mac)
    # Without the range, the unicast-only cameras stay invisible: the range scan is what finds them.
    assert set(outputs["multicast"]) == {c.endpoint_reference for c in lan.cameras}


def test_mixed_dialect_fleets_found_whole_by_multicast_and_by_unicast_range(tmp_path: Path) -> None:
    """Every discovery dialect (simulator.discovery_dialects) on a real LAN: all found, each at its own address."""
    count = len(DIALECTS)
    with test_network(namespaces=3) as net:
        agent_ns, multicast_ns, unicast_ns = net.namespaces
        multicast_base = net.add_addresses(multicast_ns, count, first_host_number=100)
        unicast_base = net.add_addresses(unicast_ns, count, first_host_number=100 + count)
        mixed = tmp_path / "mixed.toml"
        mixed.write_text('[defaults]\ndiscovery_dialect = "mixed"\n')
        other = tmp_path / "mixed-other.toml"
        other.write_text('seed = 7\n[defaults]\ndiscovery_dialect = "mixed"\n')
        lan_24 = ipaddress.ip_network(f"{unicast_base}/24", strict=False)
        unicast_range = [str(lan_24), *(str(half) for half in lan_24.subnets())]  # overlapping on purpose
        common_args = ["--discovery-port", "3702", "--no-rtsp"]
        with (
            run_fleet_process(count, extra_args=["--host", multicast_ns.address, "--camera-ip-base", multicast_base,
                                                 *common_args],
                              command_prefix=net.exec_prefix(multicast_ns), scenario_file=mixed) as lan,
            run_fleet_process(count, extra_args=["--host", unicast_ns.address, "--camera-ip-base", unicast_base,
                                                 "--no-multicast", *common_args],
                              command_prefix=net.exec_prefix(unicast_ns), scenario_file=other) as routed,
        ):
            camera = lan.cameras[0]
            config = write_config(
                tmp_path / "agent.toml", "agent-lan", tmp_path / "state", timeouts={"onvif_s": 5},
                networks=[{"cidr": str(ipaddress.ip_network(f"{agent_ns.address}/24", strict=False)),
                           "username": camera.username, "password": camera.password}],
                # The configured ranges hold the unicast-only cameras' addresses (and the multicast ones: found
                # both ways, they count as multicast); --range repeats and splits them: each address probed once.
                discovery={"ranges": [f"{unicast_base}/32", str(lan_24)], "listen_s": 3.0, "repeats": 3})
            result = subprocess.run(
                [*net.exec_prefix(agent_ns), sys.executable, "-m", "edge_agent.cli", "--config", str(config),
                 "discover", "--json", "--verbose", *(a for r in unicast_range for a in ("--range", r))],
                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    found = {row["endpoint_ref"]: row for row in json.loads(result.stdout)}
    expected = {c.endpoint_reference: ("multicast", c) for c in lan.cameras}
    expected |= {c.endpoint_reference: ("unicast", c) for c in routed.cameras}
    assert set(found) == set(expected), result.stderr
    for endpoint_ref, (method, simulated) in expected.items():
        row = found[endpoint_ref]
        assert row["method"] == method
        assert (row["host"], row["port"]) == (simulated.host, simulated.onvif_port), row
        assert row["serial"] == simulated.serial, row
    assert "dropped reply" not in result.stderr
    assert " 0 dropped" in result.stderr.strip().splitlines()[-1]
    assert "scanning ranges [##############################] 254/254" in result.stderr, "each address once"


# Runs in the announcing namespace: a camera booting (Hello), one coming and going (Hello, Bye), a
# Windows PC's Hello and another client's Probe, all to the discovery group.
_ANNOUNCER = r"""
import socket, sys, time
from pathlib import Path
from simulator import discovery_dialects as dialects
host, corpus = sys.argv[1], Path(sys.argv[2])
booting = dialects.Announcement("urn:uuid:booting-camera", ["onvif://www.onvif.org/name/Booting"],
                                f"http://{host}:9/onvif/device_service", host)
leaving = dialects.Announcement("urn:uuid:leaving-camera", [], f"http://{host}:9/onvif/device_service", host)
messages = [dialects.hello("gsoap", booting, ""), dialects.hello("standard", leaving, ""),
            dialects.bye("standard", leaving, ""), (corpus / "windows-hello-computer.xml").read_bytes(),
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Body><d:Probe/></s:Body></s:Envelope>']
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(host))
    for message in messages:
        sock.sendto(message, ("239.255.255.250", 3702))
        time.sleep(0.1)
"""


def test_hello_and_bye_overheard_during_a_round_and_other_clients_probes_not_counted(tmp_path: Path) -> None:
    with test_network(namespaces=2) as net:
        agent_ns, announcer_ns = net.namespaces
        config = write_config(tmp_path / "agent.toml", "agent-lan", tmp_path / "state", timeouts={"onvif_s": 2},
                              discovery={"listen_s": 3.0, "repeats": 3})
        agent = subprocess.Popen(
            [*net.exec_prefix(agent_ns), sys.executable, "-m", "edge_agent.cli", "--config", str(config),
             "discover", "--json", "--verbose"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while ":3702 " not in net.run(agent_ns, ["ss", "-uln"]).stdout:  # until the round listens
            assert time.monotonic() < deadline and agent.poll() is None, agent.stderr
            time.sleep(0.1)
        announced = subprocess.run(
            [*net.exec_prefix(announcer_ns), sys.executable, "-c", _ANNOUNCER, announcer_ns.address,
             str(REPO / "tests" / "fixtures" / "discovery")],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=30)
        assert announced.returncode == 0, announced.stderr
        out, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err
    found = {row["endpoint_ref"]: row for row in json.loads(out)}
    assert set(found) == {"urn:uuid:booting-camera"}, err  # the Bye took the other camera back out
    assert (found["urn:uuid:booting-camera"]["host"], found["urn:uuid:booting-camera"]["port"]) == (
        announcer_ns.address, 9)
    assert f"dropped reply from {announcer_ns.address}: not an ONVIF device" in err
    # Four messages from the announcer count; the Probes (its and our own, looping back) do not.
    assert err.strip().splitlines()[-1] == "4 replies from 1 addresses: 3 parsed, 1 dropped"
