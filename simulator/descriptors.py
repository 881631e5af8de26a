"""Plain descriptions of a running fleet (what ``scc-sim --json`` prints), importable without GStreamer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CameraDescriptor:
    """Everything a client needs to reach one simulated camera, as plain data."""

    id: str
    index: int
    name: str
    host: str
    onvif_port: int
    onvif_xaddr: str
    media_xaddr: str
    snapshot_url: str
    rtsp_url: str
    username: str
    password: str
    faults: dict[str, Any]
    manufacturer: str
    model: str
    firmware: str
    serial: str
    mac: str
    endpoint_reference: str
    regency_code: str
    resolution: tuple[int, int]
    fps: float
    snapshot_auth: str
    dialect: str = "standard"  # the ONVIF quirks it has (simulator.onvif_dialects), ``mixed`` resolved

    @property
    def rtsp_url_with_credentials(self) -> str:
        """``rtsp://user:pass@host:port/cam/<id>``, the form OpenCV/ffmpeg accept."""
        from urllib.parse import quote

        scheme, rest = self.rtsp_url.split("://", 1)
        return f"{scheme}://{quote(self.username, safe='')}:{quote(self.password, safe='')}@{rest}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["resolution"] = list(self.resolution)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CameraDescriptor:
        values = dict(data)
        values["resolution"] = tuple(values["resolution"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class FleetDescriptor:
    """The whole fleet: shared ports, control API and cameras (plus websites when simulated)."""

    host: str
    http_port: int
    rtsp_port: int
    discovery_port: int
    multicast: bool
    control_url: str
    cameras: list[CameraDescriptor]
    websites: list[dict[str, Any]] = field(default_factory=list)

    def camera(self, camera_id: str) -> CameraDescriptor:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "http_port": self.http_port,
            "rtsp_port": self.rtsp_port,
            "discovery_port": self.discovery_port,
            "multicast": self.multicast,
            "control_url": self.control_url,
            "cameras": [camera.to_json() for camera in self.cameras],
            "websites": self.websites,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FleetDescriptor:
        return cls(
            host=data["host"],
            http_port=int(data["http_port"]),
            rtsp_port=int(data["rtsp_port"]),
            discovery_port=int(data["discovery_port"]),
            multicast=bool(data["multicast"]),
            control_url=data["control_url"],
            cameras=[CameraDescriptor.from_json(item) for item in data["cameras"]],
            websites=list(data.get("websites", [])),
        )
