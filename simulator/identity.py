"""Stable per-camera identity (vendor, model, firmware, serial, MAC, name) derived from the camera index."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass

from shared.regencies import Regency, all_regencies

# Vendors and models seen on South Sumatran government sites; the mix matters because edge agents
# must not assume one vendor's quirks.
_VENDOR_MODELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Hikvision", ("DS-2CD2143G2-I", "DS-2CD1023G0E-I", "DS-2DE4425IW-DE"), "V5.7.{}"),
    ("Dahua", ("IPC-HFW1230S", "IPC-HDW2431T-AS", "SD49225XA-HNR"), "2.820.0000000.{}.R"),
    ("Uniview", ("IPC2122LR3-PF40", "IPC3612LB-ADF28K"), "IPC_G6103-B{}P02"),
    ("Axis", ("M3106-L Mk II", "P1455-LE"), "10.12.{}"),
    ("Hanwha", ("XNO-6080R", "QNV-7080R"), "2.21.{}"),
)

_OFFICES: tuple[str, ...] = (
    "Kantor Bupati",
    "Dinas Perhubungan",
    "Dinas Kominfo",
    "Simpang Lima",
    "Pasar Induk",
    "RSUD",
    "Terminal Bus",
    "Alun-alun",
    "Dinas Pendidikan",
    "Jembatan",
)

# Locally administered, unicast MAC prefix so simulated cameras never collide with a real vendor OUI.
_MAC_PREFIX = (0x02, 0x5C, 0xC0)


@dataclass(frozen=True, slots=True)
class CameraIdentity:
    """What a camera says about itself; everything derives from ``index`` and ``seed``."""

    index: int
    camera_id: str
    name: str
    manufacturer: str
    model: str
    firmware: str
    serial: str
    mac: str
    hardware_id: str
    endpoint_uuid: str
    regency_code: str
    regency_name: str

    @property
    def endpoint_reference(self) -> str:
        return f"urn:uuid:{self.endpoint_uuid}"


def camera_id_for(index: int) -> str:
    """The id used in URLs and on the command line; 1-based so ``cam0001`` is the first camera."""
    return f"cam{index:04d}"


def make_identity(index: int, seed: int = 0) -> CameraIdentity:
    """Deterministic identity: the same index and seed give the same camera on every run."""
    rng = random.Random(f"scc-sim:{seed}:{index}")
    manufacturer, models, firmware_pattern = rng.choice(_VENDOR_MODELS)
    model = rng.choice(models)
    regencies: tuple[Regency, ...] = all_regencies()
    regency = regencies[(index - 1) % len(regencies)]
    office = _OFFICES[rng.randrange(len(_OFFICES))]
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    mac_tail = (index >> 8 & 0xFF, index & 0xFF, digest[0])
    mac = ":".join(f"{octet:02x}" for octet in (*_MAC_PREFIX, *mac_tail))
    serial = f"{manufacturer[:2].upper()}{digest[1:7].hex().upper()}{index:05d}"
    return CameraIdentity(
        index=index,
        camera_id=camera_id_for(index),
        name=f"CCTV {office} {regency.name} {index:04d}",
        manufacturer=manufacturer,
        model=model,
        firmware=firmware_pattern.format(rng.randrange(1, 9)),
        serial=serial,
        mac=mac,
        hardware_id=f"{model.split('-')[0]}-HW{digest[7]:02X}",
        endpoint_uuid=str(uuid.UUID(bytes=digest[8:24], version=4)),
        regency_code=regency.code,
        regency_name=regency.name,
    )
