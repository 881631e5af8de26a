"""Enrollment bundles: one tar.gz per client with its config TOML, the CA, its certificate and key."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import tomli_w

from provisioning.ca import Role
from provisioning.layout import PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, write_file
from provisioning.registry import BrokerEndpoint
from shared import topics

CA_FILE_NAME = "ca.crt"


def config_file_name(role: Role) -> str:
    return f"{role.value}.toml"


def render_client_config(
    role: Role, name: str, regency: str | None, broker: BrokerEndpoint
) -> dict[str, dict[str, object]]:
    """The bundle's TOML: file paths are relative to the directory the bundle is unpacked into."""
    client: dict[str, object] = {"name": name}
    if regency is not None:
        client["regency"] = regency
    if role is Role.READER:
        client["subscribe"] = topics.ALL_PUBLIC_TOPICS
    return {
        "broker": {"host": broker.host, "port": broker.port, "hosts": list(broker.hosts)},
        role.value: client,
        "tls": {"ca_file": CA_FILE_NAME, "cert_file": f"{name}.crt", "key_file": f"{name}.key"},
    }


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(mtime)
    archive.addfile(info, io.BytesIO(data))


def write_bundle(
    path: Path,
    *,
    role: Role,
    name: str,
    regency: str | None,
    broker: BrokerEndpoint,
    ca_cert_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
) -> None:
    """Write the bundle at ``path`` (0600: it holds the private key) with its files at the archive root."""
    config = tomli_w.dumps(render_client_config(role, name, regency, broker)).encode("utf-8")
    now = time.time()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        _add(archive, config_file_name(role), config, PUBLIC_FILE_MODE, now)
        _add(archive, CA_FILE_NAME, ca_cert_pem, PUBLIC_FILE_MODE, now)
        _add(archive, f"{name}.crt", cert_pem, PUBLIC_FILE_MODE, now)
        _add(archive, f"{name}.key", key_pem, PRIVATE_FILE_MODE, now)
    write_file(path, buffer.getvalue(), PRIVATE_FILE_MODE)
