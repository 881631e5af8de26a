"""Host metrics with psutil: CPU, memory, disk, temperatures, uptime, network, outbox depth and drops."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psutil

from edge_agent import __version__
from edge_agent.outbox import OutboxStats
from shared.messages import HostMetrics, utc_now


def _temperatures() -> dict[str, float]:
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return {}
    try:
        sensors = reader()
    except (OSError, RuntimeError):
        return {}
    result: dict[str, float] = {}
    for chip, readings in sensors.items():
        for index, reading in enumerate(readings):
            label = f"{chip}/{reading.label or index}"[:256]
            if reading.current is not None and len(result) < 32:
                result[label] = float(reading.current)
    return result


def sample(agent: str, disk_path: Path, outbox: OutboxStats) -> Callable[[int, str], HostMetrics]:
    """Sample now; returns the builder the outbox calls with seq and msg_id."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(disk_path if disk_path.exists() else Path("/")))
    network = psutil.net_io_counters()
    try:
        load: float | None = psutil.getloadavg()[0]
    except (OSError, AttributeError):
        load = None
    values = {
        "agent_version": __version__,
        # Non-blocking: CPU use since the previous sample (the first call after start reads 0).
        "cpu_percent": psutil.cpu_percent(interval=None),
        "load_1m": load,
        "memory_used_bytes": int(memory.total - memory.available),
        "memory_total_bytes": int(memory.total),
        "disk_used_bytes": int(disk.used),
        "disk_total_bytes": int(disk.total),
        "temperatures_c": _temperatures(),
        "uptime_s": max(0.0, time.time() - psutil.boot_time()),
        "net_bytes_sent": int(network.bytes_sent) if network else 0,
        "net_bytes_recv": int(network.bytes_recv) if network else 0,
        "outbox_depth": outbox.depth,
        "outbox_bytes": outbox.bytes,
        "outbox_dropped_total": outbox.dropped_total,
        "outbox_rejected_total": outbox.rejected_total,
    }
    ts = utc_now()

    def build(seq: int, msg_id: str) -> HostMetrics:
        return HostMetrics(agent=agent, seq=seq, msg_id=msg_id, ts=ts, **values)
    return build
