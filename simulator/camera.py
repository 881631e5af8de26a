"""One simulated camera's live state: identity, credentials, clock and currently active faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from simulator.faults import Fault, FaultSet, FaultValue, parse_resolution
from simulator.scenario import CameraConfig

HOSTILE_TEXT = '<script>alert("scc")</script><img src=x onerror=alert(1)>&amp;"\'</td>'
# 10 kB, because real firmware has shipped names that overflow every fixed-size buffer downstream.
HOSTILE_LONG = ("A" * 64 + HOSTILE_TEXT) * (10_240 // (64 + len(HOSTILE_TEXT)) + 1)


def sub_size(main: tuple[int, int]) -> tuple[int, int]:
    """The sub-stream's size for a main stream of ``main``: half each way (even, as encoders want), as
    cameras offer a small second profile beside the main one."""
    width, height = main
    return max(16, width // 4 * 2), max(16, height // 4 * 2)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What GetDeviceInformation and the scopes report; hostile when that fault is on."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str
    name: str


FaultListener = Callable[["Camera", Fault | None], None]


class Camera:
    """Thread-safe: the asyncio servers and the GStreamer streaming threads both read it."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.identity = config.identity
        self._faults = FaultSet(dict(config.faults.active))
        self._lock = threading.Lock()
        self._listeners: list[FaultListener] = []

    @property
    def camera_id(self) -> str:
        return self.identity.camera_id

    def add_listener(self, listener: FaultListener) -> None:
        self._listeners.append(listener)

    def faults(self) -> FaultSet:
        """A snapshot copy, so callers never see a half-applied change."""
        with self._lock:
            return FaultSet(dict(self._faults.active))

    def has(self, fault: Fault) -> bool:
        with self._lock:
            return fault in self._faults.active

    def set_fault(self, fault: Fault, value: FaultValue) -> None:
        with self._lock:
            self._faults.active[fault] = value
        self._notify(fault)

    def clear_fault(self, fault: Fault | None = None) -> None:
        """Remove one fault, or all of them when ``fault`` is None."""
        with self._lock:
            if fault is None:
                self._faults.active.clear()
            else:
                self._faults.active.pop(fault, None)
        self._notify(fault)

    def _notify(self, fault: Fault | None) -> None:
        for listener in list(self._listeners):
            listener(self, fault)

    def clock_offset_seconds(self) -> float:
        faults = self.faults()
        return faults.number(Fault.CLOCK_WRONG) * 3600 if faults.has(Fault.CLOCK_WRONG) else 0.0

    def now(self) -> float:
        """The camera's own idea of the time (epoch seconds), wrong when clock_wrong is on."""
        return time.time() + self.clock_offset_seconds()

    def accepted_password(self) -> str:
        """The password the camera really has; differs from the advertised one under wrong_credentials."""
        faults = self.faults()
        if faults.has(Fault.WRONG_CREDENTIALS):
            return faults.text(Fault.WRONG_CREDENTIALS)
        return self.config.password

    def delay_seconds(self) -> float:
        faults = self.faults()
        return faults.number(Fault.SLOW) if faults.has(Fault.SLOW) else 0.0

    def snapshot_cached_s(self) -> float:
        faults = self.faults()
        return faults.number(Fault.SNAPSHOT_CACHED) if faults.has(Fault.SNAPSHOT_CACHED) else 0.0

    def stream_resolution(self) -> tuple[int, int]:
        """What the camera actually sends, which wrong_resolution makes differ from the profile."""
        faults = self.faults()
        if faults.has(Fault.WRONG_RESOLUTION):
            return parse_resolution(faults.text(Fault.WRONG_RESOLUTION))
        return self.config.resolution

    def stream_fps(self) -> float:
        faults = self.faults()
        return faults.number(Fault.LOW_FPS) if faults.has(Fault.LOW_FPS) else self.config.fps

    def device_info(self) -> DeviceInfo:
        identity = self.identity
        if self.has(Fault.HOSTILE_STRINGS):
            return DeviceInfo(
                manufacturer=f"{identity.manufacturer}{HOSTILE_TEXT}",
                model=f"{identity.model}<b>{HOSTILE_TEXT}</b>",
                firmware=f"{identity.firmware}{HOSTILE_TEXT}",
                serial=f"{identity.serial}{HOSTILE_TEXT}",
                hardware_id=identity.hardware_id,
                name=HOSTILE_LONG,
            )
        return DeviceInfo(
            manufacturer=identity.manufacturer,
            model=identity.model,
            firmware=identity.firmware,
            serial=identity.serial,
            hardware_id=identity.hardware_id,
            name=identity.name,
        )
