"""An agent's host metrics: one row per report."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from central.ingest.apply.context import Batch
from central.ingest.batch import Accepted
from central.storage.models import HostMetric
from central.storage.text import clean_text
from shared.messages import HostMetrics

host_metrics = cast(Table, HostMetric.__table__)


def apply(batch: Batch, entries: list[Accepted[HostMetrics]]) -> None:
    rows = []
    for entry in entries:
        m = entry.message
        rows.append(
            {
                "agent_name": m.agent, "ts": entry.ts, "received_at": entry.item.received_at,
                "agent_version": clean_text(m.agent_version), "cpu_percent": m.cpu_percent, "load_1m": m.load_1m,
                "memory_used_bytes": m.memory_used_bytes, "memory_total_bytes": m.memory_total_bytes,
                "disk_used_bytes": m.disk_used_bytes, "disk_total_bytes": m.disk_total_bytes,
                "temperatures_c": {clean_text(k): v for k, v in m.temperatures_c.items()},
                "uptime_s": m.uptime_s, "net_bytes_sent": m.net_bytes_sent, "net_bytes_recv": m.net_bytes_recv,
                "outbox_depth": m.outbox_depth, "outbox_bytes": m.outbox_bytes,
                "outbox_dropped_total": m.outbox_dropped_total,
                "outbox_rejected_total": m.outbox_rejected_total,
            }
        )
    batch.conn.execute(host_metrics.insert(), rows)
