"""Camera status reports: every report into the history, the newest into the camera's row.

The hot path of the ingest (nearly every message is one): one executemany per statement per batch,
rows bound by the fast executor. A report older than what the camera's row already says (out of
order, store-and-forward) goes into the history only. A report about a camera no inventory of its
agent listed is quarantined (``unknown_camera``): reports never create cameras.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, bindparam, update

from central.ingest.apply.context import Batch
from central.ingest.apply.rows import Key, camera_rows, cameras, newest, refuse_uninventoried
from central.ingest.batch import Accepted
from central.storage.models import CameraCheck, EventKind
from central.storage.text import checks_json, clean_text
from central.storage.transitions import event_row
from shared.messages import CameraStatus

# The per-report statements, built once: the fast executor caches their compiled form.
_CHECKS_INSERT = cast(Table, CameraCheck.__table__).insert()
_CAMERA_STATUS_UPDATE = (
    update(cameras)
    .where(cameras.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        reason=bindparam("b_reason"),
        message=bindparam("b_message"),
        status_since=bindparam("b_since"),
        last_check_at=bindparam("b_last"),
        consecutive_failures=bindparam("b_failures"),
        updated_at=bindparam("b_updated"),
    )
)


def apply(batch: Batch, entries: list[Accepted[CameraStatus]]) -> None:
    rows = camera_rows(batch, list({(e.message.agent, e.message.camera_id) for e in entries}))
    entries = refuse_uninventoried(batch, entries, rows)
    per_camera: dict[Key, list[Accepted[CameraStatus]]] = defaultdict(list)
    for entry in entries:
        per_camera[(entry.message.agent, entry.message.camera_id)].append(entry)

    transitions = batch.transitions
    changed_cameras = transitions.republish.cameras
    changed_regencies = transitions.republish.regencies
    checks: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, reports in per_camera.items():
        row = rows[key]
        pk = row.id
        reports.sort(key=lambda e: e.ts)
        changed = False
        applied = False
        for entry in reports:
            report = entry.message
            message = clean_text(report.message)
            checks.append(
                {
                    "camera_pk": pk,
                    "ts": entry.ts,
                    "received_at": entry.item.received_at,
                    "status": report.status.value,
                    "reason": report.reason,
                    "message": message,
                    "consecutive_failures": report.consecutive_failures,
                    "checks": checks_json(report.checks),
                }
            )
            current_ts = newest(row.last_check_at, row.status_since)
            if current_ts is not None and entry.ts < current_ts:
                continue  # an older report (out of order): history only
            status = report.status.value
            if status != row.status or row.status_since is None:
                transitions.camera(row, status, report.reason, message, entry.ts)
                transitions.events.append(
                    event_row(EventKind.CAMERA_STATUS, entry.ts, entry.regency, report.agent, report.camera_id,
                              old=row.status if row.status_since else "", new=status,
                              reason=report.reason, message=report.message, camera_pk=pk)
                )
                row.status = status
                row.status_since = entry.ts
                changed = True
            elif report.reason != row.reason or report.message != row.message:
                changed = True
            row.reason = report.reason
            row.message = message
            row.last_check_at = entry.ts
            row.consecutive_failures = report.consecutive_failures
            applied = True
        if applied:
            updates.append(
                {
                    "b_id": pk,
                    "b_status": row.status,
                    "b_reason": row.reason,
                    "b_message": row.message,
                    "b_since": row.status_since,
                    "b_last": row.last_check_at,
                    "b_failures": row.consecutive_failures,
                    "b_updated": reports[-1].item.received_at,
                }
            )
        if changed:
            changed_cameras.add(pk)
            changed_regencies.add(row.regency_code)

    batch.fast.executemany(batch.conn, _CHECKS_INSERT, checks)
    transitions.write_periods(batch.conn)
    if updates:
        # In id order, as public staging locks them: two writers on PostgreSQL never deadlock.
        updates.sort(key=lambda update: update["b_id"])
        batch.fast.executemany(batch.conn, _CAMERA_STATUS_UPDATE, updates)
