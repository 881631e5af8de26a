"""The technician's commands through the real CLI: check/discover --json against the simulator,
check --websites against simulated OPD sites, doctor against the real mutual-TLS broker."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from edge_agent.cli import main
from simulator.testing import FleetClient, run_fleet_process
from simulator.websites import start_websites
from tests.edge_agent.conftest import write_config
from tests.fixtures.broker import Pki, TlsBroker, free_port

REPO = Path(__file__).resolve().parents[2]
FAULTS: dict[str, Any] = {"cam0002": ["black"], "cam0003": ["wrong_credentials"]}
# A loaded test machine may answer in seconds: that must not read as a fault here.
TIMEOUTS = {"connect_s": 1, "onvif_s": 5, "snapshot_s": 5, "rtsp_open_s": 5, "rtsp_read_s": 4, "rtsp_probe_s": 1.0,
            "slow_warn_s": 30}


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetClient]:
    # Its own process, like a real camera: nothing in this test process can stall its answers.
    with run_fleet_process(3, extra_args=["--discovery-port", "0"]) as client:
        for camera_id, faults in FAULTS.items():
            for fault in faults:
                client.set_fault(camera_id, fault)
        yield client


def scc_agent(*argv: str, timeout: float = 60) -> subprocess.Popen[str]:
    """``scc-agent ARGV`` as the technician runs it: its own process, no terminal."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "edge_agent.cli", *argv], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"scc-agent did not finish in {timeout} s:\n{out}\n{err}") from None
    return process.returncode, out, err


def test_check_and_discover_json_against_the_simulator(fleet: FleetClient, tmp_path: Path) -> None:
    first = fleet.cameras[0]
    static = [{"id": c.id, "host": c.host, "port": c.onvif_port, "username": c.username, "password": c.password}
              for c in fleet.cameras]
    check_config = write_config(tmp_path / "check.toml", "agent-cli", tmp_path / "check-state",
                                cameras=static, timeouts=TIMEOUTS, discovery={"enabled": False})
    discover_config = write_config(
        tmp_path / "discover.toml", "agent-cli", tmp_path / "discover-state", timeouts=TIMEOUTS,
        discovery={"multicast": False, "ranges": ["127.0.0.1/32"], "port": fleet.descriptor.discovery_port,
                   "listen_s": 3.0, "repeats": 1},
        networks=[{"cidr": "127.20.0.0/16", "username": first.username, "password": first.password}],
    )
    # Discovery alongside the check, each its own process like two technicians' terminals; the
    # single-camera check after it (a camera, like the simulator, may refuse a second RTSP session: 503).
    discovering = scc_agent("--config", str(discover_config), "discover", "--json", "--no-multicast")
    results = {"check": finish(scc_agent("--config", str(check_config), "check", "--json"))}
    results["one"] = finish(scc_agent("--config", str(check_config), "check", "cam0001", "--json"))
    results["discover"] = finish(discovering)

    code, out, err = results["check"]
    assert code == 1, err  # not every camera is ok
    report = json.loads(out)
    assert report["websites"] == []
    rows = {row["camera"]: row for row in report["cameras"]}
    assert {cid: (row["status"], row["reason"]) for cid, row in rows.items()} == {
        "cam0001": ("ok", "ok"), "cam0002": ("degraded", "black"), "cam0003": ("degraded", "auth_failed")}
    assert {check["check"] for check in rows["cam0001"]["checks"]} >= {"reachable", "onvif", "snapshot", "rtsp",
                                                                       "stream", "image"}
    assert all(check["outcome"] == "ok" for check in rows["cam0001"]["checks"])
    assert rows["cam0002"]["host"] == fleet.camera("cam0002").host

    code, out, err = results["one"]
    assert code == 0, err
    assert [row["camera"] for row in json.loads(out)["cameras"]] == ["cam0001"]

    code, out, err = results["discover"]
    assert code == 0, err
    found = {row["endpoint_ref"]: row for row in json.loads(out)}
    assert set(found) == {c.endpoint_reference for c in fleet.cameras}
    for camera in fleet.cameras:
        row = found[camera.endpoint_reference]
        assert (row["host"], row["port"], row["method"]) == (camera.host, camera.onvif_port, "unicast")
        if camera.id == "cam0003":  # the installer changed its password: found, but not identified
            assert row["serial"] == "" and row["note"] == "wrong password"
        else:
            assert (row["serial"], row["mac"], row["manufacturer"]) == (camera.serial, camera.mac,
                                                                        camera.manufacturer)

    for _code, out, err in results.values():
        for camera in fleet.cameras:
            assert camera.password not in out + err, "a camera password reached the terminal"


def test_check_an_unknown_camera_is_a_usage_error(fleet: FleetClient, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "agent.toml", "agent-cli", tmp_path / "state", discovery={"enabled": False})
    assert main(["--config", str(config), "check", "cam9999"]) == 2
    assert "no camera 'cam9999'" in capsys.readouterr().err


def test_check_websites_against_simulated_opd_sites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = {"websites": {"schemes": {"0": "https", "1": "http", "2": "http"},
                             "faults": {"1": {"down": "5xx"}, "2": ["stale=90"]}}}
    with start_websites(3, scenario, "127.0.0.1") as sites:
        rows = sites.describe()
        websites = [{"id": row["id"], "url": row["url"], "opd": row["opd"], "timeout_s": 3.0,
                     **({"ca_file": row["ca_file"]} if row["ca_file"] else {})} for row in rows]
        config = write_config(tmp_path / "agent.toml", "agent-cli", tmp_path / "state", websites=websites)
        code = main(["--config", str(config), "check", "--websites", "--json"])
        report = json.loads(capsys.readouterr().out)
        text_code = main(["--config", str(config), "check", "--websites"])
        table = capsys.readouterr().out
    assert report["cameras"] == []
    found = {site["website_id"]: site for site in report["websites"]}
    healthy, down, stale = (found[row["id"]] for row in rows)
    assert (healthy["availability"], healthy["reason"]) == ("up", "ok"), healthy
    assert healthy["tls_valid"] is True and healthy["tls_days_left"] > 0
    assert down["availability"] == "down" and down["http_status"] >= 500
    assert stale["freshness"] == "stale"
    # Something is wrong, so the exit code says so, as it does for cameras.
    assert code == 1 and text_code == 1
    for row in rows:
        assert row["id"] in table


# --- doctor ------------------------------------------------------------------------------------


def doctor(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["--config", str(config), "doctor"])
    return code, capsys.readouterr().out.splitlines()


def doctor_config(tmp_path: Path, pki: Pki, broker: TlsBroker, name: str, **overrides: Any) -> Path:
    files = {"ca": pki.ca_cert, "cert": pki.cert(name), "key": pki.key(name), **overrides}
    port = files.pop("port", broker.port)
    return write_config(tmp_path / "agent.toml", name, tmp_path / "state", broker_port=port, **files)


def test_doctor_passes_a_good_enrollment(pki: Pki, tls_broker: TlsBroker, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    code, lines = doctor(doctor_config(tmp_path, pki, tls_broker, name), capsys)
    assert code == 0, "\n".join(lines)
    verdicts = [line for line in lines if not line.startswith(" ")]
    assert not [line for line in verdicts if line.startswith("FAIL")]
    assert any(line.startswith("OK    configuration") for line in verdicts)
    assert any(line.startswith("OK    certificate valid until") for line in verdicts)
    assert f"OK    broker 127.0.0.1:{tls_broker.port} accepts this agent's certificate over mutual TLS" in verdicts
    # The clock may be unknowable in a container; it is a warning with a fix, never a failure.
    assert all(line.startswith("OK") or "clock" in line for line in verdicts), verdicts


def test_doctor_leaves_the_running_agents_session_alone(pki: Pki, tls_broker: TlsBroker, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # The broker takes the client id from the certificate: an MQTT CONNECT from doctor would cut the
    # running agent off and fire its last will. Doctor only shakes hands.
    name = pki.provision_agent()
    running = tls_broker.connect(name, clean_start=False, session_expiry=600)
    _, lines = doctor(doctor_config(tmp_path, pki, tls_broker, name), capsys)
    assert f"OK    broker 127.0.0.1:{tls_broker.port} accepts this agent's certificate over mutual TLS" in lines
    time.sleep(0.3)
    assert running.is_connected()
    assert f"Client {name} already connected" not in tls_broker.log_text()


def test_doctor_on_an_unreachable_broker(pki: Pki, tls_broker: TlsBroker, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    name = pki.provision_agent()
    code, lines = doctor(doctor_config(tmp_path, pki, tls_broker, name, port=free_port()), capsys)
    assert code == 1
    failure = next(i for i, line in enumerate(lines) if line.startswith("FAIL") and "unreachable" in line)
    assert lines[failure + 1].strip() == "fix: check the network/firewall towards central (TCP 8883)"


def test_doctor_on_a_missing_certificate(pki: Pki, tls_broker: TlsBroker, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    name = pki.provision_agent()
    missing = tmp_path / "gone.crt"
    code, lines = doctor(doctor_config(tmp_path, pki, tls_broker, name, cert=missing), capsys)
    assert code == 1
    assert f"FAIL  {missing} is missing" in lines
    assert lines[lines.index(f"FAIL  {missing} is missing") + 1].strip() == "fix: re-run `scc-agent enroll BUNDLE`"


def expired_certificate(pki: Pki, name: str, path: Path) -> Path:
    """The agent's own key in a certificate from the real CA that expired yesterday."""
    ca_key = serialization.load_pem_private_key(pki.layout.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    current = x509.load_pem_x509_certificate(pki.cert(name).read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(current.subject).issuer_name(ca.subject)
               .public_key(current.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=400)).not_valid_after(now - dt.timedelta(days=1)))
    for extension in current.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    certificate = builder.sign(ca_key, hashes.SHA256())
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_doctor_on_an_expired_certificate(pki: Pki, tls_broker: TlsBroker, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    name = pki.provision_agent()
    tls_broker.reload()
    expired = expired_certificate(pki, name, tmp_path / "expired.crt")
    code, lines = doctor(doctor_config(tmp_path, pki, tls_broker, name, cert=expired), capsys)
    assert code == 1
    failure = next(i for i, line in enumerate(lines) if line.startswith("FAIL  certificate expired on"))
    assert lines[failure + 1].strip() == "fix: ask central for a new bundle: scc-provision agent renew"
    # The broker agrees: it refuses the expired certificate, and doctor says that too, at once.
    refused = next(i for i, line in enumerate(lines)
                   if line.startswith(f"FAIL  broker 127.0.0.1:{tls_broker.port} closed the connection"))
    assert "re-enroll with a fresh bundle" in lines[refused + 1]


def test_doctor_on_a_revoked_certificate(pki: Pki, tls_broker: TlsBroker, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    name = pki.provision_agent()
    pki.revoke(name)
    tls_broker.reload()
    code, lines = doctor(doctor_config(tmp_path, pki, tls_broker, name), capsys)
    assert code == 1
    # The certificate itself looks fine locally; only the broker knows it is revoked.
    assert any(line.startswith("OK    certificate valid until") for line in lines)
    refused = next(i for i, line in enumerate(lines) if line.startswith("FAIL  broker"))
    assert "re-enroll" in lines[refused + 1] or "revoked" in lines[refused + 1]


def test_check_websites_exits_non_zero_when_freshness_cannot_be_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.edge_agent.websites.replay import Recorded, ReplaySite, serving

    now = dt.datetime.now(dt.UTC)
    feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Dinas</title><item><title>Rapat</title><pubDate>'
            + now.strftime("%a, %d %b %Y %H:%M:%S +0000").encode() + b"</pubDate></item></channel></rss>")
    judged = ReplaySite({"/": Recorded(b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed/">'
                                       b"</head><body>Dinas</body></html>"),
                         "/feed/": Recorded(feed, 200, {"Content-Type": "application/rss+xml"})})
    unjudged = ReplaySite({"/": Recorded(b"<html><body><h1>Dinas</h1></body></html>")})
    with serving(judged, unjudged):
        codes = []
        for name, site in (("judged", judged), ("unjudged", unjudged)):
            config = write_config(tmp_path / f"{name}.toml", "agent-cli", tmp_path / name,
                                  websites=[{"id": name, "url": site.base, "timeout_s": 3.0}])
            codes.append(main(["--config", str(config), "check", "--websites"]))
    table = capsys.readouterr().out
    assert codes == [0, 1]
    assert "freshness_unknown" in table and "no signal gave a usable date" in table
