"""Where every file of a provisioning directory lives, and the file modes and owners they need."""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

# Mosquitto started as root drops to this user before it serves clients, and re-reads its key, the CRL
# and the ACL file as that user on SIGHUP, so those files must stay readable by it.
BROKER_USER = "mosquitto"
# Central's services (ingest, web, alerts) run as this user and read central's client keys.
CENTRAL_USER = "scc"

PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
PRIVATE_DIR_MODE = 0o700
# The provisioning directory itself must be traversable by the broker user; the secrets in it are 0600.
TRAVERSABLE_DIR_MODE = 0o755


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths inside one provisioning directory."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "private" / "ca.key"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def broker_cert(self) -> Path:
        return self.root / "broker" / "server.crt"

    @property
    def broker_key(self) -> Path:
        return self.root / "broker" / "server.key"

    @property
    def mosquitto_conf(self) -> Path:
        return self.root / "broker" / "mosquitto.conf"

    @property
    def acl_file(self) -> Path:
        return self.root / "broker" / "acl"

    @property
    def default_persistence_dir(self) -> Path:
        return self.root / "broker" / "persistence"

    @property
    def registry(self) -> Path:
        return self.root / "registry.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def clients_dir(self) -> Path:
        return self.root / "clients"

    @property
    def bundles_dir(self) -> Path:
        return self.root / "bundles"

    def client_cert(self, name: str) -> Path:
        return self.clients_dir / f"{name}.crt"

    def client_key(self, name: str) -> Path:
        return self.clients_dir / f"{name}.key"

    def bundle(self, name: str) -> Path:
        return self.bundles_dir / f"{name}.tar.gz"


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` atomically, its ``mode`` set before any byte lands: no secret is ever world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # O_CREAT's mode is filtered by the umask
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def user_ids(name: str) -> tuple[int, int] | None:
    """``name``'s uid and gid when we may hand files to it (running as root and the user exists)."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        return None
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        gid = user.pw_gid
    return user.pw_uid, gid


def give_to_broker(path: Path) -> None:
    """Let the broker user own ``path`` so it can re-read it after dropping root; no-op when not root."""
    ids = user_ids(BROKER_USER)
    if ids is not None:
        os.chown(path, *ids)


def give_to_central(path: Path) -> None:
    """Let central's service user own ``path`` (a client key it connects with); no-op when not root or no user."""
    ids = user_ids(CENTRAL_USER)
    if ids is not None:
        os.chown(path, *ids)
