"""Camera and website rows a batch reads, changes in memory and writes back: typed, found by (agent, id)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Table, and_, bindparam, func, select, tuple_

from central.ingest.apply.context import Batch
from central.ingest.batch import Accepted
from central.storage.db import chunked
from central.storage.models import Camera, Website
from central.storage.transitions import Period

cameras = cast(Table, Camera.__table__)
websites = cast(Table, Website.__table__)


@dataclass(slots=True)
class CameraRow:
    """A camera as a batch of status reports sees it (the columns of ``CAMERA_COLUMNS``, in their order)."""

    id: int
    agent_name: str
    camera_id: str
    regency_code: str
    status: str
    reason: str
    message: str
    status_since: dt.datetime | None
    last_check_at: dt.datetime | None
    in_inventory: bool
    inventory_at: dt.datetime | None
    consecutive_failures: int = 0
    open_period: Period | None = None  # opened by this batch, not written yet


CAMERA_COLUMNS = (
    cameras.c.id, cameras.c.agent_name, cameras.c.camera_id, cameras.c.regency_code, cameras.c.status,
    cameras.c.reason, cameras.c.message, cameras.c.status_since, cameras.c.last_check_at,
    cameras.c.in_inventory, cameras.c.inventory_at,
)


@dataclass(slots=True)
class WebsiteRow:
    """A website as a batch of status reports sees it (the columns of ``WEBSITE_COLUMNS``, in their order)."""

    id: int
    agent_name: str
    website_id: str
    regency_code: str
    state: str
    availability: str
    freshness: str
    reason: str
    message: str
    url: str
    reported_opd: str
    status_since: dt.datetime | None
    last_check_at: dt.datetime | None
    open_period: Period | None = None  # opened by this batch, not written yet


WEBSITE_COLUMNS = (
    websites.c.id, websites.c.agent_name, websites.c.website_id, websites.c.regency_code, websites.c.state,
    websites.c.availability, websites.c.freshness, websites.c.reason, websites.c.message,
    websites.c.url, websites.c.reported_opd, websites.c.status_since, websites.c.last_check_at,
)

UNKNOWN_CAMERA = "unknown_camera"  # the quarantine category of reports about a camera never inventoried
WEBSITE_CAP = "website_cap"  # the quarantine category of a report about a website past the per-agent cap
Key = tuple[str, str]  # (agent_name, camera_id or website_id)
R = TypeVar("R")


def newest(first: dt.datetime | None, second: dt.datetime | None) -> dt.datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


def rows_by_key(
    batch: Batch, columns: Sequence[Column[Any]], id_column: Column[Any], keys: list[Key], make: Callable[..., R]
) -> dict[Key, R]:
    """``make(*row)`` for the rows of ``columns`` (of ``id_column``'s table) with these keys, by key."""
    table = cast(Table, id_column.table)
    found: dict[Key, R] = {}
    if not keys:
        return found
    if batch.postgres:
        statements = [
            select(*columns).where(tuple_(table.c.agent_name, id_column).in_(chunk))
            for chunk in chunked(keys, 400)  # two parameters a key
        ]
    else:
        # One parameter, a JSON array of keys, joined to the (agent_name, id) unique index: the
        # statement compiles once, where an IN list of 1,000 pairs was expanded on every batch.
        wanted = func.json_each(bindparam("b_keys", json.dumps(keys))).table_valued("value")
        statements = [
            select(*columns).select_from(
                wanted.join(table, and_(table.c.agent_name == func.json_extract(wanted.c.value, "$[0]"),
                                        id_column == func.json_extract(wanted.c.value, "$[1]")))
            )
        ]
    names = [column.name for column in columns]
    agent_at, id_at = names.index("agent_name"), names.index(id_column.name)
    for statement in statements:
        for row in batch.conn.execute(statement):  # tuples: a RowMapping builds its key list per row
            found[(row[agent_at], row[id_at])] = make(*row)
    return found


def camera_rows(batch: Batch, keys: list[Key]) -> dict[Key, CameraRow]:
    """The camera rows of these (agent, camera_id) keys that exist: only an inventory creates one."""
    return rows_by_key(batch, CAMERA_COLUMNS, cameras.c.camera_id, keys, CameraRow)


def refuse_uninventoried(batch: Batch, entries: list[Accepted[Any]], rows: dict[Key, Any]) -> list[Accepted[Any]]:
    """Quarantine the entries about cameras no inventory of their agent listed; the others, in order."""
    kept = []
    for entry in entries:
        message = entry.message
        if (message.agent, message.camera_id) in rows:
            kept.append(entry)
        else:
            batch.refuse(entry, UNKNOWN_CAMERA, f"camera {message.camera_id!r} is in no inventory of agent "
                         f"{message.agent!r}: a camera is known only once its agent's inventory lists it")
    return kept


def website_rows(
    batch: Batch, wanted: dict[Key, str], first_seen: dict[Key, dt.datetime]
) -> tuple[dict[Key, WebsiteRow], set[Key]]:
    """Website rows for (agent, website_id) keys, creating those never seen (wanted maps key -> regency),
    and the keys refused: new websites past ``max_websites_per_agent`` for their agent."""
    rows = rows_by_key(batch, WEBSITE_COLUMNS, websites.c.website_id, list(wanted), WebsiteRow)
    missing = [key for key in wanted if key not in rows]
    if not missing:
        return rows, set()
    agents = sorted({agent for agent, _site in missing})
    counted = select(websites.c.agent_name, func.count()).where(websites.c.agent_name.in_(agents))
    have: dict[str, int] = {agent: number for agent, number in batch.conn.execute(counted.group_by(websites.c.agent_name))}
    room = {agent: batch.settings.max_websites_per_agent - have.get(agent, 0) for agent in agents}
    created, refused = [], set()
    for key in missing:
        if room[key[0]] > 0:
            room[key[0]] -= 1
            created.append(key)
        else:
            refused.add(key)
    if created:
        batch.conn.execute(
            batch.insert(websites).on_conflict_do_nothing(index_elements=["agent_name", "website_id"]),
            [
                {"agent_name": a, "website_id": w, "regency_code": wanted[(a, w)], "first_seen_at": first_seen[(a, w)]}
                for a, w in created
            ],
        )
        rows.update(rows_by_key(batch, WEBSITE_COLUMNS, websites.c.website_id, created, WebsiteRow))
    return rows, refused
