"""The cameras this agent checks: static ones from agent.toml plus discovered ones, deduplicated, with found/lost."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable

from edge_agent.checks.base import CameraTarget
from edge_agent.config import AgentConfig
from edge_agent.discovery import Discovered
from edge_agent.onvif_replies import DeviceInfo
from shared.messages import CameraIdentity, CameraInventory, DiscoveryMethod, clip_text, utc_now

log = logging.getLogger(__name__)


def discovered_id(device: Discovered) -> str:
    """A stable id from the endpoint reference (a urn:uuid on ONVIF devices)."""
    token = re.sub(r"[^0-9a-z]", "", device.endpoint_ref.lower().removeprefix("urn:uuid:"))
    return f"cam-{token[:12] or 'unknown'}"


class Inventory:
    """Static + discovered cameras; discovered ones are remembered in STATE_DIR/inventory.json."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.path = config.agent.state_dir / "inventory.json"
        self.discovered: dict[str, dict[str, object]] = self._load()
        self.reported: set[str] | None = None
        self._reported_cameras: list[CameraIdentity] = []

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text())
            return {str(k): dict(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.discovered, indent=1, sort_keys=True))
        temporary.replace(self.path)

    def merge(self, devices: Iterable[Discovered]) -> None:
        """Record one discovery round; cameras missing ``lost_after`` rounds in a row are dropped."""
        static_hosts = {(c.host, c.port) for c in self.config.cameras}
        seen: set[str] = set()
        for device in devices:
            where = device.host_port
            if where is None or where in static_hosts:
                continue
            camera_id = discovered_id(device)
            seen.add(camera_id)
            self.discovered[camera_id] = {
                "host": where[0], "port": where[1], "endpoint_ref": device.endpoint_ref, "xaddr": device.service_url,
                "method": device.method.value, "name": clip_text(device.scope("name"), 256), "missed": 0,
            }
        for camera_id, entry in list(self.discovered.items()):
            if camera_id in seen:
                continue
            missed = int(entry.get("missed", 0)) + 1  # type: ignore[call-overload]
            if missed >= self.config.discovery.lost_after:
                del self.discovered[camera_id]
            else:
                entry["missed"] = missed
        self._save()

    def targets(self, devices: Callable[[str], DeviceInfo | None] = lambda _id: None) -> list[CameraTarget]:
        """Static first, then discovered; duplicates by serial or MAC (one camera, two addresses) dropped."""
        targets: list[CameraTarget] = []
        for camera in self.config.cameras:
            username, password = self.config.credentials_for(camera.host, camera)
            network = self.config.network_for(camera.host)
            targets.append(CameraTarget(
                camera_id=camera.id, host=camera.host, port=camera.port, username=username, password=password,
                name=camera.name, opd=camera.opd or (network.opd if network else ""), onvif=camera.onvif,
                snapshot_url=camera.snapshot_url, rtsp_url=camera.rtsp_url, onvif_url=camera.onvif_url or "",
                basic_in_clear=network.basic_in_clear if network else True,
            ))
        for camera_id, entry in sorted(self.discovered.items()):
            host = str(entry["host"])
            username, password = self.config.credentials_for(host)
            network = self.config.network_for(host)
            targets.append(CameraTarget(
                camera_id=camera_id, host=host, port=int(entry["port"]),  # type: ignore[call-overload]
                username=username, password=password, name=str(entry.get("name", "")),
                opd=network.opd if network else "", endpoint_ref=str(entry.get("endpoint_ref", "")),
                onvif_url=str(entry.get("xaddr", ""))[:512],
                discovered_by=DiscoveryMethod(str(entry.get("method", "multicast"))),
                basic_in_clear=network.basic_in_clear if network else True,
            ))
        unique: list[CameraTarget] = []
        serials: set[str] = set()
        macs: set[str] = set()
        for target in targets:
            info = devices(target.camera_id)
            if info is not None and ((info.serial and info.serial in serials) or (info.mac and info.mac in macs)):
                log.info("%s is the same camera as one already listed (serial/MAC); ignoring it", target.camera_id)
                continue
            if info is not None:
                serials.update({info.serial} - {""})
                macs.update({info.mac} - {""})
            unique.append(target)
        return unique

    def message(self, targets: list[CameraTarget], devices: Callable[[str], DeviceInfo | None],
                agent: str) -> Callable[[int, str], CameraInventory] | None:
        """The inventory report, or None when neither the set of cameras nor what is known of them changed."""
        ids = {t.camera_id for t in targets}
        previous = self.reported if self.reported is not None else set()
        found, lost = sorted(ids - previous), sorted(previous - ids)
        cameras = []
        for target in targets:
            info = devices(target.camera_id) or DeviceInfo()
            cameras.append(CameraIdentity(
                camera_id=target.camera_id, host=target.host[:256], port=target.port,
                name=clip_text(target.name), manufacturer=info.manufacturer, model=info.model,
                firmware=info.firmware, serial=info.serial, mac=info.mac, endpoint_ref=target.endpoint_ref,
                discovered_by=target.discovered_by, opd=clip_text(target.opd),
            ))
        if self.reported is not None and not found and not lost and cameras == self._reported_cameras:
            return None
        self.reported = ids
        self._reported_cameras = cameras
        ts = utc_now()

        def build(seq: int, msg_id: str) -> CameraInventory:
            return CameraInventory(agent=agent, seq=seq, msg_id=msg_id, ts=ts, cameras=cameras, found=found,
                                   lost=lost)
        return build
