"""Camera inventories: the cameras an agent discovers, the only way a camera comes into being.

New ones are found, missing ones lost (offline). An agent may have at most
``max_cameras_per_agent`` cameras in service (listed, or lost and not yet retired by an operator): an
inventory that would take it past that is refused whole (quarantined, ``camera_cap``), so one agent
cannot fill central with cameras. Rows are written with one executemany per statement: a flood of
large inventories costs little per camera.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, false, select, true, update

from central.ingest.apply.context import Batch
from central.ingest.apply.rows import cameras, newest
from central.ingest.batch import Accepted
from central.storage.models import EventKind
from central.storage.text import clean_text
from central.storage.transitions import CameraNow, cameras_lost, event_row
from shared.messages import CameraIdentity, CameraInventory

CAMERA_CAP = "camera_cap"  # the quarantine category of an inventory over the per-agent cap

_KNOWN = select(
    cameras.c.id, cameras.c.camera_id, cameras.c.regency_code, cameras.c.in_inventory, cameras.c.inventory_at,
    cameras.c.status, cameras.c.status_since, cameras.c.last_check_at, cameras.c.retired_at,
)
_IDENTITY = ("host", "port", "name", "manufacturer", "model", "firmware", "serial", "mac", "endpoint_ref",
             "discovered_by", "reported_opd")
# Literals as SQL (true(), false()), every value a bindparam: the fast executor binds them by name.
_LISTED = (
    update(cameras).where(cameras.c.id == bindparam("b_id"))
    .values(in_inventory=true(), inventory_at=bindparam("b_at"), **{c: bindparam(f"b_{c}") for c in _IDENTITY})
)
_FOUND_AGAIN = _LISTED.values(lost_at=None, retired_at=None, retired_by="")
_LOST = (
    update(cameras).where(cameras.c.id == bindparam("b_id"))
    .values(in_inventory=false(), inventory_at=bindparam("b_at"), lost_at=bindparam("b_at"))
)


def apply(batch: Batch, entries: list[Accepted[CameraInventory]]) -> None:
    entries.sort(key=lambda e: e.ts)
    for entry in entries:
        _apply_one(batch, entry)


def _apply_one(batch: Batch, entry: Accepted[CameraInventory]) -> None:
    conn = batch.conn
    events = batch.transitions.events
    inventory = entry.message
    agent, ts, regency = inventory.agent, entry.ts, entry.regency
    existing = {row.camera_id: row for row in conn.execute(_KNOWN.where(cameras.c.agent_name == agent))}
    listed = {identity.camera_id: identity for identity in inventory.cameras}
    cap = batch.settings.max_cameras_per_agent
    in_service = len(listed) + sum(
        1 for camera_id, row in existing.items() if camera_id not in listed and row.retired_at is None
    )
    if in_service > cap:
        batch.refuse(entry, CAMERA_CAP, (
            f"field 'cameras': this inventory would give agent {agent!r} {in_service} cameras in service "
            f"({len(listed)} listed, the rest lost and not retired), more than the {cap} allowed per agent "
            f"(ingest.max_cameras_per_agent)"
        ))
        return
    new_rows: list[dict[str, Any]] = []
    listed_rows: list[dict[str, Any]] = []
    found_rows: list[dict[str, Any]] = []
    for camera_id, identity in listed.items():
        values = _identity_values(identity)
        row = existing.get(camera_id)
        if row is None:
            new_rows.append({"agent_name": agent, "camera_id": camera_id, "regency_code": regency,
                             "first_seen_at": entry.item.received_at, "in_inventory": True, "inventory_at": ts,
                             **values})
            events.append(event_row(EventKind.CAMERA_FOUND, ts, regency, agent, camera_id,
                                    new="found", message=identity.name))
            continue
        if row.inventory_at is not None and row.inventory_at > ts:
            continue  # a newer inventory already spoke for this camera
        bound = {"b_id": row.id, "b_at": ts, **{f"b_{column}": value for column, value in values.items()}}
        if row.in_inventory:
            listed_rows.append(bound)
            continue
        found_rows.append(bound)
        events.append(event_row(EventKind.CAMERA_FOUND, ts, regency, agent, camera_id,
                                new="found", message=identity.name, camera_pk=row.id))
        batch.transitions.republish.cameras.add(row.id)
    if new_rows:
        conn.execute(cameras.insert(), new_rows)
    batch.fast.executemany(conn, _LISTED, listed_rows)  # the bulk: every camera still listed
    if found_rows:
        conn.execute(_FOUND_AGAIN, found_rows)
    lost_rows: list[dict[str, Any]] = []
    now_offline: list[CameraNow] = []
    for camera_id, row in existing.items():
        if camera_id in listed or not row.in_inventory:
            continue
        if row.inventory_at is not None and row.inventory_at > ts:
            continue
        lost_rows.append({"b_id": row.id, "b_at": ts})
        events.append(event_row(EventKind.CAMERA_LOST, ts, regency, agent, camera_id, new="lost", camera_pk=row.id))
        current_ts = newest(row.last_check_at, row.status_since)
        if current_ts is None or current_ts <= ts:  # else a newer status already speaks for the camera
            now_offline.append(CameraNow(row.id, camera_id, row.regency_code, row.status, row.status_since))
    batch.fast.executemany(conn, _LOST, lost_rows)
    cameras_lost(conn, batch.transitions, now_offline, agent, ts)
    batch.transitions.republish.regencies.add(regency)


def _identity_values(identity: CameraIdentity) -> dict[str, Any]:
    return {
        "host": clean_text(identity.host), "port": identity.port, "name": clean_text(identity.name),
        "manufacturer": clean_text(identity.manufacturer), "model": clean_text(identity.model),
        "firmware": clean_text(identity.firmware), "serial": clean_text(identity.serial),
        "mac": clean_text(identity.mac), "endpoint_ref": clean_text(identity.endpoint_ref),
        "discovered_by": identity.discovered_by.value, "reported_opd": clean_text(identity.opd),
    }
