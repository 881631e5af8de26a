"""Camera inventories: the cameras an agent discovers. New ones are found, missing ones lost (offline)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from central.ingest.apply.context import Batch
from central.ingest.apply.rows import cameras, newest
from central.ingest.batch import Accepted
from central.storage.models import EventKind
from central.storage.text import clean_text
from central.storage.transitions import CameraNow, camera_lost, event_row
from shared.messages import CameraIdentity, CameraInventory

_KNOWN = select(
    cameras.c.id, cameras.c.camera_id, cameras.c.regency_code, cameras.c.in_inventory, cameras.c.inventory_at,
    cameras.c.status, cameras.c.status_since, cameras.c.last_check_at,
)


def apply(batch: Batch, entries: list[Accepted[CameraInventory]]) -> None:
    conn = batch.conn
    events = batch.transitions.events
    entries.sort(key=lambda e: e.message.ts)
    for entry in entries:
        inventory = entry.message
        agent = inventory.agent
        ts = inventory.ts
        existing = {row.camera_id: row for row in conn.execute(_KNOWN.where(cameras.c.agent_name == agent))}
        listed = {identity.camera_id: identity for identity in inventory.cameras}
        new_rows = []
        for camera_id, identity in listed.items():
            values = _identity_values(identity)
            row = existing.get(camera_id)
            if row is None:
                new_rows.append(
                    {"agent_name": agent, "camera_id": camera_id, "regency_code": entry.regency,
                     "first_seen_at": entry.item.received_at, "in_inventory": True, "inventory_at": ts, **values}
                )
                events.append(event_row(EventKind.CAMERA_FOUND, ts, entry.regency, agent, camera_id,
                                        new="found", message=identity.name))
                continue
            if row.inventory_at is not None and row.inventory_at > ts:
                continue  # a newer inventory already spoke for this camera
            found = {} if row.in_inventory else {"lost_at": None, "retired_at": None, "retired_by": ""}
            conn.execute(
                update(cameras).where(cameras.c.id == row.id)
                .values(in_inventory=True, inventory_at=ts, **values, **found)
            )
            if not row.in_inventory:
                events.append(event_row(EventKind.CAMERA_FOUND, ts, entry.regency, agent, camera_id,
                                        new="found", message=identity.name, camera_pk=row.id))
                batch.transitions.republish.cameras.add(row.id)
        if new_rows:
            conn.execute(cameras.insert(), new_rows)
        for camera_id, row in existing.items():
            if camera_id in listed or not row.in_inventory:
                continue
            if row.inventory_at is not None and row.inventory_at > ts:
                continue
            conn.execute(
                update(cameras).where(cameras.c.id == row.id).values(in_inventory=False, inventory_at=ts, lost_at=ts)
            )
            events.append(event_row(EventKind.CAMERA_LOST, ts, entry.regency, agent, camera_id, new="lost",
                                    camera_pk=row.id))
            current_ts = newest(row.last_check_at, row.status_since)
            if current_ts is None or current_ts <= ts:  # else a newer status already speaks for the camera
                camera_lost(conn, batch.transitions,
                            CameraNow(row.id, camera_id, row.regency_code, row.status, row.status_since), agent, ts)
        batch.transitions.republish.regencies.add(entry.regency)


def _identity_values(identity: CameraIdentity) -> dict[str, Any]:
    return {
        "host": clean_text(identity.host), "port": identity.port, "name": clean_text(identity.name),
        "manufacturer": clean_text(identity.manufacturer), "model": clean_text(identity.model),
        "firmware": clean_text(identity.firmware), "serial": clean_text(identity.serial),
        "mac": clean_text(identity.mac), "endpoint_ref": clean_text(identity.endpoint_ref),
        "discovered_by": identity.discovered_by.value, "reported_opd": clean_text(identity.opd),
    }
