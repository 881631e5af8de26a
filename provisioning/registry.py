"""The registry of issued certificates (registry.json): who holds which name, role and regency.

Central's ingest imports :func:`load_registry` to map the MQTT username (the certificate CN, which is the
agent name in ``scc/v1/agents/<name>/...``) to the regency the agent was enrolled for.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from provisioning.ca import Role
from provisioning.errors import ProvisioningError
from provisioning.layout import PUBLIC_FILE_MODE, Layout, write_file

REGISTRY_FORMAT = 1


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """One certificate the CA issued. ``serial`` is hex: JSON readers lose precision on 128-bit ints."""

    name: str
    role: Role
    regency: str | None
    serial: str
    not_after: dt.datetime
    issued_at: dt.datetime
    revoked: bool = False
    revoked_at: dt.datetime | None = None

    @property
    def serial_number(self) -> int:
        return int(self.serial, 16)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["role"] = self.role.value
        for key in ("not_after", "issued_at", "revoked_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> IssuedCert:
        revoked_at = data.get("revoked_at")
        return cls(
            name=str(data["name"]),
            role=Role(str(data["role"])),
            regency=str(data["regency"]) if data.get("regency") is not None else None,
            serial=str(data["serial"]),
            not_after=dt.datetime.fromisoformat(str(data["not_after"])),
            issued_at=dt.datetime.fromisoformat(str(data["issued_at"])),
            revoked=bool(data.get("revoked", False)),
            revoked_at=dt.datetime.fromisoformat(str(revoked_at)) if revoked_at is not None else None,
        )


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    """Where clients reach the broker; the bundles carry these."""

    hosts: tuple[str, ...]
    port: int

    @property
    def host(self) -> str:
        return self.hosts[0]


@dataclass(slots=True)
class Registry:
    """Every certificate issued from one provisioning directory, keyed by name (unique across roles)."""

    broker: BrokerEndpoint
    certificates: dict[str, IssuedCert] = field(default_factory=dict)

    def get(self, name: str) -> IssuedCert | None:
        return self.certificates.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.certificates

    def __iter__(self) -> Iterator[IssuedCert]:
        return iter(sorted(self.certificates.values(), key=lambda cert: (cert.role.value, cert.name)))

    def regency_of(self, agent: str) -> str | None:
        """The regency of a current (unrevoked) agent, or None for any other name."""
        cert = self.get(agent)
        if cert is None or cert.role is not Role.AGENT or cert.revoked:
            return None
        return cert.regency

    def add(self, cert: IssuedCert) -> None:
        if cert.name in self.certificates:
            raise ProvisioningError(f"name {cert.name!r} is already issued")
        self.certificates[cert.name] = cert

    def mark_revoked(self, name: str, when: dt.datetime) -> IssuedCert:
        cert = self.certificates[name]
        revoked = replace(cert, revoked=True, revoked_at=when)
        self.certificates[name] = revoked
        return revoked

    def to_json(self) -> dict[str, object]:
        return {
            "format": REGISTRY_FORMAT,
            "broker": {"hosts": list(self.broker.hosts), "port": self.broker.port},
            "certificates": {name: cert.to_json() for name, cert in sorted(self.certificates.items())},
        }


def load_registry(directory: str | os.PathLike[str]) -> Registry:
    """Read ``<directory>/registry.json``; ProvisioningError names the file when it is missing or broken."""
    path = Layout(Path(directory)).registry
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProvisioningError(
            f"{path} does not exist: run 'scc-provision init --dir {directory}' first"
        ) from None
    except json.JSONDecodeError as error:
        raise ProvisioningError(f"{path} is not valid JSON: {error}") from None
    except UnicodeDecodeError as error:
        raise ProvisioningError(f"{path} is not UTF-8 text: {error}") from None
    except RecursionError:
        raise ProvisioningError(f"{path} is nested too deeply to be a registry") from None
    except OSError as error:
        # Unreadable (permissions, a directory in its place, I/O error): callers such as central's ingest
        # catch ProvisioningError and keep the previous registry, so anything else would stop them.
        raise ProvisioningError(f"{path} cannot be read: {error.strerror or error}") from None
    try:
        if data.get("format") != REGISTRY_FORMAT:
            raise ProvisioningError(f"{path}: unsupported registry format {data.get('format')!r}")
        broker = BrokerEndpoint(hosts=tuple(data["broker"]["hosts"]), port=int(data["broker"]["port"]))
        certificates = {name: IssuedCert.from_json(entry) for name, entry in data["certificates"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ProvisioningError(f"{path} is malformed: {error!r}") from None
    return Registry(broker=broker, certificates=certificates)


def save_registry(directory: Path, registry: Registry) -> None:
    """Replace registry.json atomically, so central never reads a half-written file."""
    text = json.dumps(registry.to_json(), indent=2, sort_keys=False) + "\n"
    # Public: it holds names, serials and regencies, no secrets, and central's service user must read it.
    write_file(Layout(directory).registry, text.encode("utf-8"), PUBLIC_FILE_MODE)
