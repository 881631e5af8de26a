"""Scenario files (TOML): fleet-wide defaults plus per-camera credentials, resolution and faults.

    seed = 1                          # changes every camera's identity (vendor, serial, MAC, name)
    count = 20                        # at least this many cameras (--cameras may ask for more)

    [defaults]                        # every camera; any key a camera table accepts except name
    username = "admin"
    password = "sumsel-demo-2024"
    resolution = "640x360"
    fps = 15
    snapshot_auth = "digest"          # or "basic"
    discovery_dialect = "mixed"       # WS-Discovery reply shape (simulator.discovery_dialects); default standard
    dialect = "time_needs_auth"       # ONVIF quirks (simulator.onvif_dialects); default standard

    [cameras.cam0003]                 # or [cameras.3]
    name = "CCTV Simpang Charitas"
    password = "other"
    faults = ["black", "slow=2"]      # or a table: faults = { clock_wrong = -5, low_fps = 2 }

Other top-level tables (e.g. [websites]) belong to other simulators and are ignored here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator import onvif_dialects
from simulator.discovery_dialects import DIALECTS, MIXED
from simulator.faults import FaultError, FaultSet, parse_resolution
from simulator.identity import CameraIdentity, camera_id_for, make_identity

# Documented demo credentials every simulated camera uses unless the scenario says otherwise.
DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "sumsel-demo-2024"
DEFAULT_RESOLUTION = (640, 360)
DEFAULT_FPS = 15.0

_CAMERA_KEYS = {"name", "username", "password", "resolution", "fps", "faults", "snapshot_auth"}
_CAMERA_KEYS |= {"discovery_dialect"}  # simulator.discovery_dialects: how its WS-Discovery replies look
_CAMERA_KEYS |= {"dialect"}  # simulator.onvif_dialects: the ONVIF quirks of its firmware


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and why."""


@dataclass(slots=True)
class CameraConfig:
    """Everything needed to build one simulated camera before it starts serving."""

    identity: CameraIdentity
    discovery_dialect: str = "standard"
    dialect: str = "standard"
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    resolution: tuple[int, int] = DEFAULT_RESOLUTION
    fps: float = DEFAULT_FPS
    snapshot_auth: str = "digest"
    faults: FaultSet = field(default_factory=FaultSet.empty)


def _camera_key(raw_key: str) -> str:
    """Scenario tables may be keyed ``cam0003`` or just ``3``."""
    return camera_id_for(int(raw_key)) if raw_key.isdigit() else raw_key


def _apply(config: CameraConfig, table: Mapping[str, Any], where: str) -> None:
    unknown = set(table) - _CAMERA_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_CAMERA_KEYS)}")
    try:
        if "name" in table:
            config.identity = _renamed(config.identity, str(table["name"]))
        if "username" in table:
            config.username = str(table["username"])
        if "password" in table:
            config.password = str(table["password"])
        if "resolution" in table:
            config.resolution = parse_resolution(str(table["resolution"]))
        if "fps" in table:
            config.fps = float(table["fps"])
            if not 0.1 <= config.fps <= 60:
                raise ScenarioError(f"{where}: fps must be between 0.1 and 60")
        if "snapshot_auth" in table:
            if table["snapshot_auth"] not in ("digest", "basic"):
                raise ScenarioError(f"{where}: snapshot_auth must be 'digest' or 'basic'")
            config.snapshot_auth = str(table["snapshot_auth"])
        if "faults" in table:
            config.faults = FaultSet.from_spec(table["faults"])
        if "discovery_dialect" in table:
            config.discovery_dialect = _discovery_dialect(table["discovery_dialect"], where)
        if "dialect" in table:
            config.dialect = _onvif_dialect(table["dialect"], where)
    except FaultError as error:
        raise ScenarioError(f"{where}: {error}") from None


def _discovery_dialect(value: object, where: str) -> str:
    if value not in (*DIALECTS, MIXED):
        raise ScenarioError(f"{where}: discovery_dialect {value!r} unknown; one of {[*DIALECTS, MIXED]}")
    return str(value)


def _onvif_dialect(value: object, where: str) -> str:
    known = [*onvif_dialects.DIALECTS, onvif_dialects.MIXED]
    if value not in known:
        raise ScenarioError(f"{where}: dialect {value!r} unknown; one of {known}")
    return str(value)


def _renamed(identity: CameraIdentity, name: str) -> CameraIdentity:
    from dataclasses import replace

    return replace(identity, name=name)


def build_camera_configs(count: int, scenario: Mapping[str, Any] | None = None) -> list[CameraConfig]:
    """``count`` camera configs: identity from the index, then ``[defaults]``, then ``[cameras.<id>]``."""
    scenario = scenario or {}
    seed = int(scenario.get("seed", 0))
    defaults = scenario.get("defaults", {})
    per_camera: Mapping[str, Any] = scenario.get("cameras", {})
    if not isinstance(defaults, Mapping) or not isinstance(per_camera, Mapping):
        raise ScenarioError("[defaults] and [cameras.<id>] must be tables")
    count = max(count, int(scenario.get("count", 0)))
    tables = {_camera_key(str(key)): value for key, value in per_camera.items()}
    configs = []
    for index in range(1, count + 1):
        config = CameraConfig(identity=make_identity(index, seed))
        _apply(config, {k: v for k, v in defaults.items() if k != "name"}, "[defaults]")
        table = tables.pop(config.identity.camera_id, None)
        if table is not None:
            _apply(config, table, f"[cameras.{config.identity.camera_id}]")
        configs.append(config)
    if tables:
        raise ScenarioError(f"scenario names cameras beyond --cameras {count}: {sorted(tables)}")
    return configs


def load_scenario(path: str | Path) -> dict[str, Any]:
    """Read a scenario TOML file; errors name the file."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{path}: {error}") from None
