"""What each scc-provision command does to a provisioning directory, callable from the CLI and from tests."""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioning import ca as pki
from provisioning.broker import CENTRAL_NAME, DEFAULT_PORT, BrokerSettings, render_acl, render_mosquitto_conf
from provisioning.bundles import write_bundle
from provisioning.ca import Role
from provisioning.errors import ProvisioningError
from provisioning.layout import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    PUBLIC_FILE_MODE,
    TRAVERSABLE_DIR_MODE,
    Layout,
    give_to_broker,
    give_to_central,
    write_file,
)
from provisioning.registry import (
    BrokerEndpoint,
    IssuedCert,
    Registry,
    load_registry,
    save_registry,
)
from shared.mqtt import ALERTS_PURPOSE, COMMANDS_PURPOSE, LIVE_PURPOSE, identity_name, ingest_worker_purpose
from shared.regencies import UnknownRegencyError, get_regency
from shared.topics import check_identifier

# The broker's server certificate is recorded under this name, so no client can take it either.
BROKER_NAME = "broker"

_DNS_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


@dataclass(frozen=True, slots=True)
class ClientIssue:
    """The result of issuing a client certificate: its registry entry and where its files are."""

    cert: IssuedCert
    cert_path: Path
    key_path: Path
    bundle_path: Path


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    # Two operators (or an install script and an operator) must not interleave registry and CRL writes.
    if not layout.registry.exists() and not layout.ca_key.parent.is_dir():
        raise ProvisioningError(
            f"{layout.root} is not a provisioning directory: run 'scc-provision init --dir {layout.root}' first"
        )
    with open(layout.lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _DNS_NAME.match(host):
        raise ProvisioningError(f"--broker-host {host!r} is neither an IP address nor a DNS name")
    return host


def _check_name(name: str) -> str:
    try:
        return check_identifier(name, "certificate name")
    except ValueError as error:
        raise ProvisioningError(str(error)) from None


def _record(cert: pki.Issued, name: str, role: Role, regency: str | None) -> IssuedCert:
    return IssuedCert(
        name=name,
        role=role,
        regency=regency,
        serial=format(cert.certificate.serial_number, "x"),
        not_after=cert.certificate.not_valid_after_utc,
        issued_at=dt.datetime.now(dt.UTC),
    )


def _load_ca(layout: Layout) -> pki.Issued:
    try:
        return pki.Issued(
            pki.load_cert(layout.ca_cert.read_bytes()), pki.load_key(layout.ca_key.read_bytes())
        )
    except FileNotFoundError as error:
        raise ProvisioningError(
            f"{error.filename} is missing: is {layout.root} a directory made by 'scc-provision init'?"
        ) from None


def _write_crl(layout: Layout, ca: pki.Issued, registry: Registry) -> None:
    revocations = [
        pki.Revocation(cert.serial_number, cert.revoked_at or cert.issued_at)
        for cert in registry
        if cert.revoked
    ]
    write_file(layout.crl, pki.crl_pem(pki.build_crl(ca, revocations)), PUBLIC_FILE_MODE)


def _write_acl(layout: Layout, registry: Registry) -> None:
    write_file(layout.acl_file, render_acl(registry).encode("utf-8"), PUBLIC_FILE_MODE)


def write_broker_config(layout: Layout, settings: BrokerSettings, path: Path | None = None) -> Path:
    """Write mosquitto.conf for ``settings`` (default: the directory's own), creating its persistence dir."""
    persistence_dir = settings.persistence_dir or layout.default_persistence_dir
    persistence_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(persistence_dir, PRIVATE_DIR_MODE)
    give_to_broker(persistence_dir)  # the broker writes mosquitto.db after dropping root
    target = path or layout.mosquitto_conf
    write_file(target, render_mosquitto_conf(layout, settings).encode("utf-8"), PUBLIC_FILE_MODE)
    return target


def rewrite_broker_config(directory: Path, persistence_dir: Path | None = None, log_file: Path | None = None) -> Path:
    """Regenerate mosquitto.conf for the registry's port: an upgrade brings new broker settings this way."""
    layout = Layout(directory.resolve())
    with _locked(layout):
        registry = load_registry(layout.root)
        return write_broker_config(layout, BrokerSettings(registry.broker.port, persistence_dir, log_file))


def init(
    directory: Path,
    hosts: Sequence[str],
    *,
    port: int = DEFAULT_PORT,
    persistence_dir: Path | None = None,
    log_file: Path | None = None,
    ingest_workers: int = 1,
) -> Registry:
    """Create the CA, the broker's and central's certificates, the CRL, mosquitto.conf and the ACL."""
    if not hosts:
        raise ProvisioningError("init needs at least one --broker-host (a DNS name or IP address)")
    checked_hosts = tuple(_check_host(host) for host in hosts)
    if not 0 < port < 65536:
        raise ProvisioningError(f"--port {port} is not a TCP port (1-65535)")
    layout = Layout(directory.resolve())
    if layout.registry.exists() or layout.ca_key.exists():
        raise ProvisioningError(f"{layout.root} is already initialised; refusing to replace its CA")
    layout.root.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, TRAVERSABLE_DIR_MODE)
    for private_dir in (layout.ca_key.parent, layout.clients_dir, layout.bundles_dir):
        private_dir.mkdir(exist_ok=True)
        os.chmod(private_dir, PRIVATE_DIR_MODE)
    layout.broker_cert.parent.mkdir(exist_ok=True)
    os.chmod(layout.broker_cert.parent, TRAVERSABLE_DIR_MODE)

    with _locked(layout):
        ca = pki.create_ca()
        write_file(layout.ca_key, pki.key_pem(ca.key), PRIVATE_FILE_MODE)
        write_file(layout.ca_cert, pki.cert_pem(ca.certificate), PUBLIC_FILE_MODE)

        server = pki.issue(ca, checked_hosts[0], Role.BROKER, hosts=checked_hosts)
        write_file(layout.broker_key, pki.key_pem(server.key), PRIVATE_FILE_MODE)
        give_to_broker(layout.broker_key)  # 0600 but the broker's own: it re-reads it on SIGHUP as itself
        write_file(layout.broker_cert, pki.cert_pem(server.certificate), PUBLIC_FILE_MODE)

        registry = Registry(broker=BrokerEndpoint(hosts=checked_hosts, port=port))
        registry.add(_record(server, BROKER_NAME, Role.BROKER, None))
        for name in central_names(ingest_workers):
            _issue_central(layout, ca, registry, name)

        _write_crl(layout, ca, registry)
        _write_acl(layout, registry)
        write_broker_config(layout, BrokerSettings(port, persistence_dir, log_file))
        save_registry(layout.root, registry)
    return registry


def central_names(ingest_workers: int) -> list[str]:
    """Central's certificates: the ingest (worker 0), the command sender, the alerts publisher, and one
    per further ingest worker. The broker makes each one's name its client id, so no two connections
    of central share a session (see shared/mqtt.py)."""
    if ingest_workers < 1:
        raise ProvisioningError(f"--ingest-workers {ingest_workers}: at least 1")
    purposes = [COMMANDS_PURPOSE, ALERTS_PURPOSE, LIVE_PURPOSE] + [ingest_worker_purpose(k) for k in range(1, ingest_workers)]
    return [CENTRAL_NAME] + [identity_name(CENTRAL_NAME, purpose) for purpose in purposes]


def _issue_central(layout: Layout, ca: pki.Issued, registry: Registry, name: str) -> None:
    issued = pki.issue(ca, name, Role.CENTRAL)
    write_file(layout.client_key(name), pki.key_pem(issued.key), PRIVATE_FILE_MODE)
    give_to_central(layout.client_key(name))
    write_file(layout.client_cert(name), pki.cert_pem(issued.certificate), PUBLIC_FILE_MODE)
    registry.add(_record(issued, name, Role.CENTRAL, None))


def ensure_central(directory: Path, ingest_workers: int) -> list[str]:
    """Issue whichever of :func:`central_names` is not issued yet (an upgrade, more workers); returns them.

    A revoked one is not reissued under the same name: the operator decides that.
    """
    names = central_names(ingest_workers)
    layout = Layout(directory.resolve())
    with _locked(layout):
        registry = load_registry(layout.root)
        for name in names:
            existing = registry.get(name)
            if existing is not None and existing.role is not Role.CENTRAL:
                raise ProvisioningError(f"name {name!r} is already issued to a {existing.role.value}")
        new = [name for name in names if registry.get(name) is None]
        if new:
            ca = _load_ca(layout)
            for name in new:
                _issue_central(layout, ca, registry, name)
            _write_acl(layout, registry)
            save_registry(layout.root, registry)
    return new


def issue_client(directory: Path, role: Role, name: str, regency: str | None = None) -> ClientIssue:
    """Issue an agent's or reader's certificate and write its enrollment bundle."""
    if role not in (Role.AGENT, Role.READER):
        raise ProvisioningError(f"only agents and readers are issued on demand, not {role.value}")
    _check_name(name)
    if role is Role.AGENT:
        if regency is None:
            raise ProvisioningError(f"agent {name!r} needs --regency")
        try:
            get_regency(regency)
        except UnknownRegencyError as error:
            raise ProvisioningError(str(error)) from None
    layout = Layout(directory.resolve())
    with _locked(layout):
        registry = load_registry(layout.root)
        existing = registry.get(name)
        if existing is not None:
            raise ProvisioningError(
                f"name {name!r} is already issued (role {existing.role.value}, serial {existing.serial}); "
                "names are unique across agents, readers and central"
            )
        ca = _load_ca(layout)
        issued = pki.issue(ca, name, role, regency=regency)
        key_bytes, cert_bytes = pki.key_pem(issued.key), pki.cert_pem(issued.certificate)
        write_file(layout.client_key(name), key_bytes, PRIVATE_FILE_MODE)
        write_file(layout.client_cert(name), cert_bytes, PUBLIC_FILE_MODE)
        write_bundle(
            layout.bundle(name),
            role=role,
            name=name,
            regency=regency,
            broker=registry.broker,
            ca_cert_pem=pki.cert_pem(ca.certificate),
            cert_pem=cert_bytes,
            key_pem=key_bytes,
        )
        record = _record(issued, name, role, regency)
        registry.add(record)
        _write_acl(layout, registry)
        save_registry(layout.root, registry)
    return ClientIssue(record, layout.client_cert(name), layout.client_key(name), layout.bundle(name))


def revoke(directory: Path, name: str) -> tuple[IssuedCert, bool]:
    """Put ``name``'s certificate on the CRL and drop it from the ACL; the bool says it was newly revoked."""
    layout = Layout(directory.resolve())
    with _locked(layout):
        registry = load_registry(layout.root)
        cert = registry.get(name)
        if cert is None:
            raise ProvisioningError(f"no certificate named {name!r} in {layout.registry}")
        if cert.role is Role.BROKER:
            raise ProvisioningError("the broker's server certificate is not revoked by CRL; re-run init")
        if cert.revoked:
            return cert, False
        revoked = registry.mark_revoked(name, dt.datetime.now(dt.UTC))
        _write_crl(layout, _load_ca(layout), registry)
        _write_acl(layout, registry)
        save_registry(layout.root, registry)
    return revoked, True
