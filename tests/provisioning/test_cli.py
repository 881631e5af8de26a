"""scc-provision's commands, files, certificates and errors, without a broker."""

from __future__ import annotations

import io
import json
import os
import pwd
import stat
import tarfile
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.broker import MAX_PACKET_BYTES, MAX_QUEUED_MESSAGES, BrokerSettings, render_mosquitto_conf
from provisioning.cli import main
from provisioning.layout import Layout
from provisioning.registry import load_registry
from shared import topics


def provision(directory: Path) -> Layout:
    assert (
        main(
            [
                "init",
                "--dir",
                str(directory),
                "--broker-host",
                "scc.example.id",
                "10.0.0.5",
                "--port",
                "18883",
            ]
        )
        == 0
    )
    assert main(["agent", "--dir", str(directory), "--regency", "16.71", "--name", "agent-plg"]) == 0
    assert main(["reader", "--dir", str(directory), "--name", "bmkg"]) == 0
    return Layout(directory.resolve())


@pytest.fixture
def layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Layout:
    made = provision(tmp_path / "pki")
    capsys.readouterr()
    return made


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- errors -----------------------------------------------------------------------------------------


def test_unknown_regency_is_exit_2_naming_the_code(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agent", "--dir", str(layout.root), "--regency", "16.99", "--name", "agent-x"]) == 2
    error = capsys.readouterr().err
    assert "unknown regency code '16.99'" in error
    assert "16.71" in error
    assert load_registry(layout.root).get("agent-x") is None


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("agent", "agent-plg"),
        ("agent", "bmkg"),
        ("agent", "central"),
        ("agent", "broker"),
        ("reader", "agent-plg"),
    ],
)
def test_name_already_issued_in_any_role_is_exit_2(
    layout: Layout, capsys: pytest.CaptureFixture[str], command: str, name: str
) -> None:
    extra = ["--regency", "16.06"] if command == "agent" else []
    before = layout.registry.read_bytes()
    assert main([command, "--dir", str(layout.root), "--name", name, *extra]) == 2
    assert f"name {name!r} is already issued" in capsys.readouterr().err
    assert layout.registry.read_bytes() == before


@pytest.mark.parametrize("name", ["bad/name", "a+b", "#", "", "-lead", "x" * 65])
def test_invalid_name_is_exit_2(layout: Layout, capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert main(["agent", "--dir", str(layout.root), "--regency", "16.71", f"--name={name}"]) == 2
    assert "is not a valid id" in capsys.readouterr().err


def test_commands_on_an_uninitialised_dir_say_to_run_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agent", "--dir", str(tmp_path), "--regency", "16.71", "--name", "a"]) == 2
    assert "scc-provision init" in capsys.readouterr().err
    assert main(["list", "--dir", str(tmp_path)]) == 2


def test_init_refuses_to_replace_an_existing_ca(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    ca_before = layout.ca_cert.read_bytes()
    assert main(["init", "--dir", str(layout.root), "--broker-host", "other"]) == 2
    assert "already initialised" in capsys.readouterr().err
    assert layout.ca_cert.read_bytes() == ca_before


def test_init_rejects_a_bad_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--dir", str(tmp_path / "p"), "--broker-host", "bad host!"]) == 2
    assert "'bad host!'" in capsys.readouterr().err


def test_revoke_unknown_name_is_exit_2(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revoke", "--dir", str(layout.root), "--name", "nobody"]) == 2
    assert "no certificate named 'nobody'" in capsys.readouterr().err


# --- files ------------------------------------------------------------------------------------------


def test_private_keys_are_0600_and_the_broker_can_read_its_own(layout: Layout) -> None:
    for key in (
        layout.ca_key,
        layout.broker_key,
        layout.client_key("central"),
        layout.client_key("agent-plg"),
    ):
        assert mode(key) == 0o600, key
    for bundle in (layout.bundle("agent-plg"), layout.bundle("bmkg")):
        assert mode(bundle) == 0o600, bundle
    assert mode(layout.ca_key.parent) == 0o700
    if os.geteuid() == 0:
        try:
            broker_uid = pwd.getpwnam("mosquitto").pw_uid
        except KeyError:
            pytest.skip("no mosquitto user on this machine")
        assert layout.broker_key.stat().st_uid == broker_uid
        assert layout.default_persistence_dir.stat().st_uid == broker_uid
        assert layout.ca_key.stat().st_uid == 0


def test_files_the_broker_rereads_on_sighup_are_world_readable(layout: Layout) -> None:
    for path in (layout.ca_cert, layout.crl, layout.acl_file, layout.mosquitto_conf, layout.broker_cert):
        assert mode(path) & 0o004, path
    assert mode(layout.root) & 0o001


# --- certificates -----------------------------------------------------------------------------------


def test_broker_certificate_names_every_host_and_is_for_servers(layout: Layout) -> None:
    cert = load(layout.broker_cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["scc.example.id"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]


def test_agent_certificate_binds_name_and_regency_and_chains_to_the_ca(layout: Layout) -> None:
    ca = load(layout.ca_cert)
    cert = load(layout.client_cert("agent-plg"))
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "agent-plg"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "agent"
    assert subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "16.71"
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    cert.verify_directly_issued_by(ca)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 700 < lifetime.days < 740
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3649


# --- registry ---------------------------------------------------------------------------------------


def test_registry_records_role_regency_serial_and_expiry(layout: Layout) -> None:
    registry = load_registry(layout.root)
    agent = registry.get("agent-plg")
    assert agent is not None
    cert = load(layout.client_cert("agent-plg"))
    assert (agent.role.value, agent.regency, agent.revoked) == ("agent", "16.71", False)
    assert agent.serial_number == cert.serial_number
    assert agent.not_after == cert.not_valid_after_utc
    assert registry.regency_of("agent-plg") == "16.71"
    assert registry.regency_of("bmkg") is None
    assert {c.name: c.role.value for c in registry} == {
        "agent-plg": "agent",
        "bmkg": "reader",
        "broker": "broker",
        "central": "central",
        "central-commands": "central",
        "central-alerts": "central",
        "central-live": "central",
    }
    assert registry.broker.hosts == ("scc.example.id", "10.0.0.5")
    assert registry.broker.port == 18883
    assert registry.get("nobody") is None


def test_revoke_puts_the_serial_on_the_crl_and_the_reader_out_of_the_acl(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "user bmkg" in layout.acl_file.read_text()

    assert main(["revoke", "--dir", str(layout.root), "--name", "bmkg"]) == 0

    out = capsys.readouterr().out
    assert "revoked reader 'bmkg'" in out
    assert "systemctl reload mosquitto" in out
    assert "SIGHUP" in out or "kill -HUP" in out
    entry = load_registry(layout.root).get("bmkg")
    assert entry is not None and entry.revoked and entry.revoked_at is not None
    crl = x509.load_pem_x509_crl(layout.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(entry.serial_number) is not None
    assert crl.is_signature_valid(load(layout.ca_cert).public_key())  # type: ignore[arg-type]
    assert "user bmkg" not in layout.acl_file.read_text()

    assert main(["revoke", "--dir", str(layout.root), "--name", "bmkg"]) == 0
    assert "already revoked" in capsys.readouterr().out


# --- list -------------------------------------------------------------------------------------------


def test_list_shows_every_certificate(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    main(["revoke", "--dir", str(layout.root), "--name", "bmkg"])
    capsys.readouterr()

    assert main(["list", "--dir", str(layout.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "REGENCY", "SERIAL", "EXPIRES", "STATUS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"agent-plg", "bmkg", "broker", "central", "central-commands", "central-alerts",
                         "central-live"}
    assert rows["agent-plg"][1:3] == ["agent", "16.71"]
    assert rows["agent-plg"][-1] == "valid"
    assert rows["bmkg"][-2] == "revoked"

    assert main(["list", "--dir", str(layout.root), "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["agent-plg"]["regency"] == "16.71"
    assert entries["agent-plg"]["serial"] == load_registry(layout.root).get("agent-plg").serial  # type: ignore[union-attr]
    assert entries["bmkg"]["revoked"] is True
    assert set(entries["central"]) >= {"role", "regency", "serial", "not_after", "revoked"}


# --- bundles ----------------------------------------------------------------------------------------


def test_agent_bundle_holds_config_ca_cert_and_a_0600_key(layout: Layout) -> None:
    with tarfile.open(layout.bundle("agent-plg")) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert set(members) == {"agent.toml", "ca.crt", "agent-plg.crt", "agent-plg.key"}
        assert members["agent-plg.key"].mode == 0o600
        files = {name: archive.extractfile(m).read() for name, m in members.items()}  # type: ignore[union-attr]
    config = tomllib.load(io.BytesIO(files["agent.toml"]))
    assert config == {
        "broker": {"host": "scc.example.id", "port": 18883, "hosts": ["scc.example.id", "10.0.0.5"]},
        "agent": {"name": "agent-plg", "regency": "16.71"},
        "tls": {"ca_file": "ca.crt", "cert_file": "agent-plg.crt", "key_file": "agent-plg.key"},
    }
    assert files["ca.crt"] == layout.ca_cert.read_bytes()
    assert files["agent-plg.crt"] == layout.client_cert("agent-plg").read_bytes()
    assert files["agent-plg.key"] == layout.client_key("agent-plg").read_bytes()


def test_reader_bundle_names_the_public_tree(layout: Layout) -> None:
    with tarfile.open(layout.bundle("bmkg")) as archive:
        config = tomllib.load(archive.extractfile("reader.toml"))  # type: ignore[arg-type]
    assert config["reader"] == {"name": "bmkg", "subscribe": topics.ALL_PUBLIC_TOPICS}


# --- broker configuration ---------------------------------------------------------------------------


def test_mosquitto_conf_is_tls_only_with_client_certificates(layout: Layout) -> None:
    lines = layout.mosquitto_conf.read_text().splitlines()
    for expected in (
        "listener 18883",
        "allow_anonymous false",
        "require_certificate true",
        "use_identity_as_username true",
        f"crlfile {layout.crl}",
        f"cafile {layout.ca_cert}",
        f"acl_file {layout.acl_file}",
        f"persistence_location {layout.default_persistence_dir}/",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_packet_size {MAX_PACKET_BYTES}",
    ):
        assert expected in lines
    assert sum(line.startswith("listener ") for line in lines) == 1


def test_config_renders_for_another_port_and_persistence_dir(layout: Layout, tmp_path: Path) -> None:
    text = render_mosquitto_conf(
        layout, BrokerSettings(port=1234, persistence_dir=tmp_path, log_file=tmp_path / "l")
    )
    assert "listener 1234" in text.splitlines()
    assert f"persistence_location {tmp_path}/" in text.splitlines()
    assert f"log_dest file {tmp_path / 'l'}" in text.splitlines()


def test_acl_gives_agents_only_their_own_subtree(layout: Layout) -> None:
    acl = layout.acl_file.read_text().splitlines()
    assert f"pattern read {topics.command_subscription('%u')}" in acl
    assert f"pattern write {topics.metrics('%u')}" in acl
    assert not any(line.startswith("pattern write") and "/cmd/" in line for line in acl)
    assert not any(line.startswith(("pattern readwrite", "topic readwrite")) for line in acl)


def test_only_the_ingest_identities_may_write_agent_report_topics(layout: Layout) -> None:
    """To clear what agents retained against the contract; the command sender, alerts and live relay never."""
    blocks: dict[str, list[str]] = {}
    user = None
    for line in layout.acl_file.read_text().splitlines():
        if line.startswith("user "):
            user = line.removeprefix("user ")
            blocks[user] = []
        elif user is not None and line.startswith("topic "):
            blocks[user].append(line)
    clear_line = f"topic write {topics.camera_status('+', '+')}"
    writers = {name for name, lines in blocks.items() if clear_line in lines}
    assert writers == {name for name in blocks if name == "central" or name.startswith("central-ingest-")}
    assert "central" in writers
    assert f"topic write {topics.live_frames('+', '+')}" in blocks["central"]  # to clear retained frames
    assert not any(line.startswith("topic write") and "/live/" in line for line in blocks["central-live"])


def test_a_missing_dir_is_exit_2_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["reader", "--dir", str(missing), "--name", "r"]) == 2
    assert "scc-provision init" in capsys.readouterr().err
    assert not missing.exists()


def test_central_issues_a_certificate_per_ingest_worker_once(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["central", "--dir", str(layout.root), "--ingest-workers", "3"]) == 0
    assert "issued central-ingest-1, central-ingest-2" in capsys.readouterr().out
    for name in ("central-ingest-1", "central-ingest-2"):
        assert mode(layout.client_key(name)) == 0o600
        assert f"user {name}\n" in layout.acl_file.read_text()
        assert load_registry(layout.root).get(name).role.value == "central"  # type: ignore[union-attr]
    assert main(["central", "--dir", str(layout.root), "--ingest-workers", "2"]) == 0
    assert "all issued" in capsys.readouterr().out
    assert main(["central", "--dir", str(layout.root), "--ingest-workers", "0"]) == 2


def test_broker_config_regenerates_mosquitto_conf_for_an_upgrade(
    layout: Layout, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    layout.mosquitto_conf.write_text("# an older release's configuration\n")
    assert main(["broker-config", "--dir", str(layout.root), "--persistence-dir", str(tmp_path / "p")]) == 0
    conf = layout.mosquitto_conf.read_text()
    assert "use_username_as_clientid true" in conf and "memory_limit " in conf
    assert "listener 18883" in conf and f"persistence_location {tmp_path / 'p'}/" in conf
    assert "restart the broker" in capsys.readouterr().out
