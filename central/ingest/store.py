"""Write one batch of received MQTT messages in one transaction: decode, vet, dedupe, apply, quarantine.

The batch either commits whole or not at all; the worker acknowledges its messages only afterwards,
so a crash means redelivery, and redelivery means nothing because every stored message's msg_id is
claimed in ``ingested_messages`` inside the same transaction.

A batch that fails for a reason other than the database being unreachable is split: each message is
retried alone, and one that still fails is quarantined (``store_error``) instead of blocking the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import Connection, Table, and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from central.ingest import public
from central.ingest.agents import AgentDirectory
from central.ingest.fastsql import FastExecutor
from central.ingest.turns import WriteTurns
from central.storage.db import Database, EncodedJson, lock_event_ids
from central.storage.models import (
    LOST_REASON,
    QUARANTINE_PAYLOAD_BYTES,
    Agent,
    Camera,
    CameraCheck,
    CameraStatusChange,
    CameraThumbnail,
    CommandRecord,
    CommandState,
    Event,
    EventKind,
    HostMetric,
    IngestCounter,
    IngestedMessage,
    QuarantinedMessage,
    Website,
    WebsiteCheck,
    WebsiteState,
    WebsiteStatusChange,
)
from shared import topics
from shared.codec import Decoded, DecodeError, decode
from shared.messages import (
    AgentBirth,
    AgentOffline,
    CameraInventory,
    CameraState,
    CameraStatus,
    CheckOutcome,
    Command,
    CommandResult,
    HostMetrics,
    WebsiteAvailability,
    WebsiteStatus,
)
from shared.messages import CameraThumbnail as ThumbnailMessage

log = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1
AGENT_OFFLINE_REASON = "agent_offline"

def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


cameras = _table(Camera)
websites = _table(Website)
agents_table = _table(Agent)

_CHECKS = TypeAdapter(list[CheckOutcome])
_ingested = _table(IngestedMessage)
_CLAIM_INSERT = _ingested.insert()
_SEEN_IDS = func.json_each(bindparam("b_ids")).table_valued("value")
_SEEN_MSG_IDS = select(_ingested.c.msg_id).where(_ingested.c.msg_id.in_(select(_SEEN_IDS.c.value)))
_CAMERA_COLUMNS = (
    cameras.c.id, cameras.c.agent_name, cameras.c.camera_id, cameras.c.regency_code, cameras.c.status,
    cameras.c.reason, cameras.c.message, cameras.c.status_since, cameras.c.last_check_at,
    cameras.c.in_inventory, cameras.c.inventory_at,
)
_WEBSITE_COLUMNS = (
    websites.c.id, websites.c.agent_name, websites.c.website_id, websites.c.regency_code, websites.c.state,
    websites.c.availability, websites.c.freshness, websites.c.reason, websites.c.message,
    websites.c.url, websites.c.reported_opd, websites.c.status_since, websites.c.last_check_at,
)

# The per-report statements, built once: the fast executor caches their compiled form.
_CHECKS_INSERT = _table(CameraCheck).insert()
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

# Every column a website report sets, each bound as b_<column>: one executemany per batch.
_WEBSITE_REPORT_COLUMNS = (
    "state", "availability", "freshness", "reason", "message", "url", "reported_opd", "http_status",
    "response_ms", "tls_valid", "tls_expires_at", "tls_days_left", "last_update", "last_update_signal",
    "stale_after_days", "status_since", "last_check_at", "updated_at",
)
_WEBSITE_STATUS_UPDATE = (
    update(websites)
    .where(websites.c.id == bindparam("b_id"))
    .values({column: bindparam(f"b_{column}") for column in _WEBSITE_REPORT_COLUMNS})
)


@dataclass(slots=True)
class Received:
    """One MQTT message as the network thread handed it over."""

    topic: str
    payload: bytes
    received_at: dt.datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0


@dataclass(slots=True)
class BatchResult:
    """What a committed batch did; ``changed_regencies`` need a fresh public summary."""

    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: int = 0
    changed_regencies: set[str] = field(default_factory=set)
    changed_cameras: set[int] = field(default_factory=set)
    changed_websites: set[int] = field(default_factory=set)

    def add(self, other: BatchResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.ignored += other.ignored
        self.changed_regencies |= other.changed_regencies
        self.changed_cameras |= other.changed_cameras
        self.changed_websites |= other.changed_websites


@dataclass(frozen=True, slots=True)
class StoreSettings:
    thumbnails_per_camera: int = 5
    max_clock_skew_s: int = 3600
    republish: bool = True  # stage public camera/website state in the same transaction


@dataclass(slots=True)
class _Accepted:
    item: Received
    decoded: Decoded
    regency: str
    message: Any  # decoded.message, read ~15 times per report: an attribute, not a property


@dataclass(slots=True)
class _Rejected:
    item: Received
    category: str
    reason: str
    agent: str | None


def is_unavailable(error: BaseException) -> bool:
    """The database is down or unreachable (retry the batch later), rather than refusing this data."""
    if isinstance(error, InterfaceError):
        return True
    if isinstance(error, OperationalError):
        message = str(error.orig).lower() if error.orig is not None else ""
        # SQLite reports refused *data* (e.g. too many variables) as OperationalError too.
        return not any(hint in message for hint in ("too many", "too big", "no such"))
    return isinstance(error, DBAPIError) and error.connection_invalidated


class BatchWriter:
    """Turns batches of :class:`Received` into rows; one instance per worker process."""

    def __init__(self, database: Database, directory: AgentDirectory, settings: StoreSettings | None = None) -> None:
        self.database = database
        self.directory = directory
        self.settings = settings or StoreSettings()
        self._known_agents: dict[str, str] = {}  # agent -> regency already in the agents table
        self._postgres = not database.is_sqlite
        self.turns = WriteTurns(database)  # the worker's other write transactions take turns too
        self._fast = FastExecutor()
        # The worker stages public state after the commit, coalesced over several batches (see
        # stage_public): the report-write turn, SQLite's one writer, then holds no staging work.
        self.defer_staging = False

    def stage_public(self, camera_pks: set[int] | None, website_pks: set[int] | None) -> None:
        """Stage the public state of these cameras and websites (None: all of them) in a transaction of its own."""
        with self.turns.turn(), self.database.session(write=True) as session:
            conn = session.connection()
            now = dt.datetime.now(dt.UTC)
            public.stage_cameras(conn, public.all_cameras(conn) if camera_pks is None else camera_pks, now)
            public.stage_websites(conn, public.all_websites(conn) if website_pks is None else website_pks, now)

    # --- entry point ------------------------------------------------------------------------

    def write(self, batch: Sequence[Received]) -> BatchResult:
        """Store ``batch``; raises only when the database is unavailable (nothing was written then)."""
        accepted, rejected, ignored = self._vet(batch)
        try:
            result = self._write(accepted, rejected)
        except Exception as error:
            if is_unavailable(error) or (len(batch) == 1 and not accepted):
                raise
            self._known_agents.clear()  # the rolled-back transaction may have inserted some
            log.warning("batch of %d failed (%s); storing its messages one by one", len(batch), error)
            result = self._write_one_by_one(accepted, rejected)
        result.ignored += ignored
        return result

    def quarantine_all(self, batch: Sequence[Received], reason: str) -> BatchResult:
        """Quarantine every message of ``batch`` unread (category ``internal_error``).

        The worker's way out when ``write`` failed for a reason that is neither the database being
        unavailable nor the data: retrying such a batch fails the same way for ever and stops the
        stream for every regency, while quarantined messages keep their payload for a later replay.
        """
        self._known_agents.clear()  # a failed write may have rolled back agents it inserted
        rejected = [_Rejected(item, "internal_error", reason, _agent_from_topic(item.topic)) for item in batch]
        return self._write([], rejected)

    def _write_one_by_one(self, accepted: list[_Accepted], rejected: list[_Rejected]) -> BatchResult:
        total = BatchResult()
        for single in accepted:
            try:
                total.add(self._write([single], []))
            except Exception as error:
                if is_unavailable(error):
                    raise
                self._known_agents.clear()
                log.error("quarantining %s: cannot be stored: %s", single.item.topic, error)
                reason = f"store error: {type(error).__name__}: {error}"[:2000]
                agent = single.decoded.topic.agent
                rejected.append(_Rejected(single.item, "store_error", reason, agent))
        if rejected:
            total.add(self._write([], rejected))
        return total

    # --- vetting (no database) ----------------------------------------------------------------

    def _vet(self, batch: Sequence[Received]) -> tuple[list[_Accepted], list[_Rejected], int]:
        accepted: list[_Accepted] = []
        rejected: list[_Rejected] = []
        ignored = 0
        seen: set[str] = set()
        self.directory.refresh()
        for item in batch:
            result = decode(item.topic, item.payload)
            if isinstance(result, DecodeError):
                rejected.append(_Rejected(item, "decode", result.reason, _agent_from_topic(item.topic)))
                continue
            message = result.message
            if isinstance(message, Command):
                ignored += 1  # central's own commands, echoed by the agents/# subscription
                continue
            agent = result.topic.agent
            assert agent is not None  # every agent channel carries one
            verdict = self.directory.verdict(agent)
            if verdict.regency is None:
                refusal = verdict.refusal.value if verdict.refusal else "unknown_agent"
                rejected.append(_Rejected(item, refusal, f"agent {agent!r}: {refusal}", agent))
                continue
            problem = self._implausible(message, item.received_at)
            if problem:
                rejected.append(_Rejected(item, "implausible", problem, agent))
                continue
            msg_id = message.msg_id
            if msg_id in seen:
                ignored += 1  # the same message twice in one batch: a redelivery
                continue
            seen.add(msg_id)
            accepted.append(_Accepted(item, result, verdict.regency, message))
        return accepted, rejected, ignored

    def _implausible(self, message: Any, received_at: dt.datetime) -> str:
        skew = dt.timedelta(seconds=self.settings.max_clock_skew_s)
        if message.ts > received_at + skew:
            return f"field 'ts': {message.ts.isoformat()} is more than {skew} ahead of central's clock"
        problem = _out_of_range(message)
        return f"{problem}: out of the storable range" if problem else ""

    # --- the transaction ------------------------------------------------------------------------

    def _write(self, accepted: list[_Accepted], rejected: list[_Rejected]) -> BatchResult:
        result = BatchResult()
        with self.turns.turn(), self.database.session(write=True) as session:
            conn = session.connection()
            fresh = self._claim(conn, accepted) if accepted else []
            result.duplicates = len(accepted) - len(fresh)
            result.stored = len(fresh)
            if fresh:
                self._apply(conn, fresh, result)
                if self.settings.republish and not self.defer_staging:
                    now = dt.datetime.now(dt.UTC)
                    public.stage_cameras(conn, result.changed_cameras, now)
                    public.stage_websites(conn, result.changed_websites, now)
            if rejected:
                self._quarantine(conn, rejected)
                result.quarantined = len(rejected)
            self._count(conn, result, rejected)
        for agent_name, regency in ((a.decoded.topic.agent, a.regency) for a in fresh):
            if agent_name:
                self._known_agents[agent_name] = regency
        return result

    def _insert(self, table: Table) -> Any:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    def _claim(self, conn: Connection, accepted: list[_Accepted]) -> list[_Accepted]:
        """Record each msg_id; keep only the messages whose id was not stored before."""
        if self._postgres:
            rows = [
                {"msg_id": a.message.msg_id, "agent_name": a.message.agent, "received_at": a.item.received_at}
                for a in accepted
            ]
            statement = (
                self._insert(_ingested).on_conflict_do_nothing(index_elements=["msg_id"]).returning(_ingested.c.msg_id)
            )
            claimed = set(conn.execute(statement, rows).scalars())
            return [a for a in accepted if a.message.msg_id in claimed]
        # SQLite has one writer (this transaction holds it): ids not there now cannot appear before the
        # commit. A lookup and a plain executemany cost less than an INSERT ... RETURNING of 1,000 rows.
        ids = json.dumps([a.message.msg_id for a in accepted])
        seen = set(conn.execute(_SEEN_MSG_IDS, {"b_ids": ids}).scalars())
        fresh = [a for a in accepted if a.message.msg_id not in seen]
        self._fast.executemany(
            conn, _CLAIM_INSERT,
            [{"msg_id": a.message.msg_id, "agent_name": a.message.agent, "received_at": a.item.received_at}
             for a in fresh],
        )
        return fresh

    def _apply(self, conn: Connection, fresh: list[_Accepted], result: BatchResult) -> None:
        by_kind: dict[type, list[_Accepted]] = defaultdict(list)
        for entry in fresh:
            by_kind[type(entry.message)].append(entry)
        self._ensure_agents(conn, fresh)
        self._touch_agents(conn, fresh)
        events: list[dict[str, Any]] = []
        if by_kind[CameraInventory]:
            self._inventories(conn, by_kind[CameraInventory], events, result)
        if by_kind[CameraStatus]:
            self._camera_statuses(conn, by_kind[CameraStatus], events, result)
        if by_kind[ThumbnailMessage]:
            self._thumbnails(conn, by_kind[ThumbnailMessage])
        if by_kind[WebsiteStatus]:
            self._website_statuses(conn, by_kind[WebsiteStatus], events, result)
        if by_kind[HostMetrics]:
            self._host_metrics(conn, by_kind[HostMetrics])
        if by_kind[CommandResult]:
            self._command_results(conn, by_kind[CommandResult], events)
        presence = by_kind[AgentBirth] + by_kind[AgentOffline]
        if presence:
            presence.sort(key=lambda a: a.item.received_at)
            self._presence(conn, presence, events, result)
        if events:
            self._insert_events(conn, events)

    # --- agents -----------------------------------------------------------------------------------

    def _ensure_agents(self, conn: Connection, fresh: list[_Accepted]) -> None:
        wanted = {a.message.agent: a.regency for a in fresh}
        unknown = {name: regency for name, regency in wanted.items() if self._known_agents.get(name) != regency}
        if not unknown:
            return
        existing = dict(
            conn.execute(
                select(agents_table.c.name, agents_table.c.regency_code).where(agents_table.c.name.in_(unknown))
            ).all()
        )
        missing = [name for name in unknown if name not in existing]
        if missing:
            conn.execute(
                self._insert(agents_table).on_conflict_do_nothing(index_elements=["name"]),
                [{"name": name, "regency_code": unknown[name]} for name in missing],
            )
        moved = [name for name, regency in existing.items() if regency != unknown[name]]
        for name in moved:
            # Re-enrolled for another regency: its cameras and websites move with it.
            log.info("agent %s moved to regency %s (registry)", name, unknown[name])
            for table in (agents_table, cameras, websites):
                key = table.c.name if table is agents_table else table.c.agent_name
                conn.execute(update(table).where(key == name).values(regency_code=unknown[name]))

    def _touch_agents(self, conn: Connection, fresh: list[_Accepted]) -> None:
        newest: dict[str, dt.datetime] = {}
        for entry in fresh:
            ts = entry.message.ts
            agent = entry.message.agent
            if agent not in newest or ts > newest[agent]:
                newest[agent] = ts
        conn.execute(
            update(agents_table)
            .where(agents_table.c.name == bindparam("b_name"))
            .where(
                (agents_table.c.last_seen_at.is_(None)) | (agents_table.c.last_seen_at < bindparam("b_ts"))
            )
            .values(last_seen_at=bindparam("b_ts")),
            [{"b_name": name, "b_ts": ts} for name, ts in newest.items()],
        )

    # --- cameras ----------------------------------------------------------------------------------

    def _camera_rows(self, conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        return self._rows_by_key(conn, _CAMERA_COLUMNS, cameras.c.camera_id, list(keys))

    def _rows_by_key(
        self, conn: Connection, columns: Sequence[Any], id_column: Any, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The rows of ``columns`` (of ``id_column``'s table) for (agent_name, id) keys, by key."""
        table = id_column.table
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if not keys:
            return found
        if self._postgres:
            statements = [
                select(*columns).where(tuple_(table.c.agent_name, id_column).in_(keys[start : start + 400]))
                for start in range(0, len(keys), 400)
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
            for row in conn.execute(statement):  # tuples: a RowMapping builds its key list per row
                found[(row[agent_at], row[id_at])] = dict(zip(names, row, strict=True))
        return found

    def _cameras_for(
        self, conn: Connection, wanted: dict[tuple[str, str], str], first_seen: dict[tuple[str, str], dt.datetime]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Camera rows for (agent, camera_id) keys, creating those never seen (wanted maps key -> regency)."""
        rows = self._camera_rows(conn, wanted)
        missing = [key for key in wanted if key not in rows]
        if missing:
            conn.execute(
                self._insert(cameras).on_conflict_do_nothing(index_elements=["agent_name", "camera_id"]),
                [
                    {"agent_name": a, "camera_id": c, "regency_code": wanted[(a, c)], "first_seen_at": first_seen[(a, c)]}
                    for a, c in missing
                ],
            )
            rows.update(self._camera_rows(conn, missing))
        return rows

    def _camera_statuses(
        self, conn: Connection, entries: list[_Accepted], events: list[dict[str, Any]], result: BatchResult
    ) -> None:
        wanted = {(e.message.agent, e.message.camera_id): e.regency for e in entries}
        first_seen = {(e.message.agent, e.message.camera_id): e.item.received_at for e in entries}
        rows = self._cameras_for(conn, wanted, first_seen)
        per_camera: dict[tuple[str, str], list[_Accepted]] = defaultdict(list)
        for entry in entries:
            per_camera[(entry.message.agent, entry.message.camera_id)].append(entry)

        checks: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        closes: list[dict[str, Any]] = []
        periods: list[dict[str, Any]] = []
        for key, reports in per_camera.items():
            row = rows[key]
            pk = row["id"]
            reports.sort(key=lambda e: e.message.ts)
            changed = False
            for entry in reports:
                report: CameraStatus = entry.message
                checks.append(
                    {
                        "camera_pk": pk,
                        "ts": report.ts,
                        "received_at": entry.item.received_at,
                        "status": report.status.value,
                        "reason": report.reason,
                        "message": _text(report.message),
                        "consecutive_failures": report.consecutive_failures,
                        "checks": _checks_json(report.checks),
                    }
                )
                current_ts = _newest(row["last_check_at"], row["status_since"])
                if current_ts is not None and report.ts < current_ts:
                    continue  # an older report (out of order): history only
                status = report.status.value
                if status != row["status"] or row["status_since"] is None:
                    _close_and_open(row, status, report.reason, _text(report.message), report.ts, closes, periods)
                    events.append(
                        _event(EventKind.CAMERA_STATUS, report.ts, entry.regency, report.agent, report.camera_id,
                               old=row["status"] if row["status_since"] else "", new=status,
                               reason=report.reason, message=report.message, camera_pk=pk)
                    )
                    row["status"] = status
                    row["status_since"] = report.ts
                    changed = True
                elif report.reason != row["reason"] or report.message != row["message"]:
                    changed = True
                row["reason"] = report.reason
                row["message"] = _text(report.message)
                row["last_check_at"] = report.ts
                row["consecutive_failures"] = report.consecutive_failures
                row["_dirty"] = True
            if row.get("_dirty"):
                updates.append(
                    {
                        "b_id": pk,
                        "b_status": row["status"],
                        "b_reason": row["reason"],
                        "b_message": row["message"],
                        "b_since": row["status_since"],
                        "b_last": row["last_check_at"],
                        "b_failures": row["consecutive_failures"],
                        "b_updated": reports[-1].item.received_at,
                    }
                )
            if changed:
                result.changed_cameras.add(pk)
                result.changed_regencies.add(row["regency_code"])

        self._fast.executemany(conn, _CHECKS_INSERT, checks)
        self._close_periods(conn, _table(CameraStatusChange), "camera_pk", closes)
        if periods:
            conn.execute(_table(CameraStatusChange).insert(), [{"camera_pk": p.pop("pk"), **p} for p in periods])
        if updates:
            # In id order, as public staging locks them: two writers on PostgreSQL never deadlock.
            updates.sort(key=lambda row: row["b_id"])
            self._fast.executemany(conn, _CAMERA_STATUS_UPDATE, updates)

    @staticmethod
    def _close_periods(conn: Connection, table: Any, key: str, closes: list[dict[str, Any]]) -> None:
        if closes:
            conn.execute(
                update(table)
                .where(and_(table.c[key] == bindparam("b_pk"), table.c.ended_at.is_(None)))
                .values(ended_at=bindparam("b_end"), duration_s=bindparam("b_duration")),
                closes,
            )

    def _thumbnails(self, conn: Connection, entries: list[_Accepted]) -> None:
        wanted = {(e.message.agent, e.message.camera_id): e.regency for e in entries}
        first_seen = {(e.message.agent, e.message.camera_id): e.item.received_at for e in entries}
        rows = self._cameras_for(conn, wanted, first_seen)
        table = _table(CameraThumbnail)
        conn.execute(
            table.insert(),
            [
                {
                    "camera_pk": rows[(e.message.agent, e.message.camera_id)]["id"],
                    "captured_at": e.message.captured_at,
                    "received_at": e.item.received_at,
                    "width": e.message.width,
                    "height": e.message.height,
                    "size_bytes": e.message.size_bytes,
                    "sha256": e.message.sha256,
                    "jpeg": e.decoded.jpeg,
                }
                for e in entries
            ],
        )
        keep = self.settings.thumbnails_per_camera
        for pk in {row["id"] for row in rows.values()}:
            newest = (
                select(table.c.id)
                .where(table.c.camera_pk == pk)
                .order_by(table.c.captured_at.desc(), table.c.id.desc())
                .limit(keep)
                .scalar_subquery()
            )
            conn.execute(delete(table).where(table.c.camera_pk == pk, table.c.id.not_in(newest)))

    def _inventories(
        self, conn: Connection, entries: list[_Accepted], events: list[dict[str, Any]], result: BatchResult
    ) -> None:
        entries.sort(key=lambda e: e.message.ts)
        for entry in entries:
            inventory: CameraInventory = entry.message
            agent = inventory.agent
            ts = inventory.ts
            existing = {
                row["camera_id"]: dict(row)
                for row in conn.execute(
                    select(cameras.c.id, cameras.c.camera_id, cameras.c.regency_code, cameras.c.in_inventory,
                           cameras.c.inventory_at, cameras.c.status, cameras.c.status_since, cameras.c.last_check_at)
                    .where(cameras.c.agent_name == agent)
                ).mappings()
            }
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
                    events.append(_event(EventKind.CAMERA_FOUND, ts, entry.regency, agent, camera_id,
                                         new="found", message=identity.name))
                    continue
                if row["inventory_at"] is not None and row["inventory_at"] > ts:
                    continue  # a newer inventory already spoke for this camera
                found = {} if row["in_inventory"] else {"lost_at": None, "retired_at": None, "retired_by": ""}
                conn.execute(
                    update(cameras).where(cameras.c.id == row["id"])
                    .values(in_inventory=True, inventory_at=ts, **values, **found)
                )
                if not row["in_inventory"]:
                    events.append(_event(EventKind.CAMERA_FOUND, ts, entry.regency, agent, camera_id,
                                         new="found", message=identity.name, camera_pk=row["id"]))
                    result.changed_cameras.add(row["id"])
            if new_rows:
                conn.execute(cameras.insert(), new_rows)
            for camera_id, row in existing.items():
                if camera_id in listed or not row["in_inventory"]:
                    continue
                if row["inventory_at"] is not None and row["inventory_at"] > ts:
                    continue
                conn.execute(
                    update(cameras).where(cameras.c.id == row["id"]).values(in_inventory=False, inventory_at=ts, lost_at=ts)
                )
                events.append(_event(EventKind.CAMERA_LOST, ts, entry.regency, agent, camera_id, new="lost",
                                     camera_pk=row["id"]))
                self._camera_lost(conn, row, agent, ts, events, result)
            result.changed_regencies.add(entry.regency)

    def _camera_lost(
        self, conn: Connection, row: dict[str, Any], agent: str, ts: dt.datetime,
        events: list[dict[str, Any]], result: BatchResult,
    ) -> None:
        """A camera its agent no longer discovers is offline (reason lost) until found again or retired."""
        current_ts = _newest(row["last_check_at"], row["status_since"])
        if current_ts is not None and current_ts > ts:
            return  # a status newer than this inventory already speaks for the camera
        offline = CameraState.OFFLINE.value
        closes: list[dict[str, Any]] = []
        periods: list[dict[str, Any]] = []
        values: dict[str, Any] = {"status": offline, "reason": LOST_REASON, "message": "", "updated_at": ts}
        if row["status"] != offline or row["status_since"] is None:
            _close_and_open(row, offline, LOST_REASON, "", ts, closes, periods)
            self._close_periods(conn, _table(CameraStatusChange), "camera_pk", closes)
            conn.execute(_table(CameraStatusChange).insert(), [{"camera_pk": p.pop("pk"), **p} for p in periods])
            events.append(_event(EventKind.CAMERA_STATUS, ts, row["regency_code"], agent, row["camera_id"],
                                 old=row["status"] if row["status_since"] else "", new=offline,
                                 reason=LOST_REASON, camera_pk=row["id"]))
            values["status_since"] = ts
        conn.execute(update(cameras).where(cameras.c.id == row["id"]).values(**values))
        result.changed_cameras.add(row["id"])
        result.changed_regencies.add(row["regency_code"])

    # --- websites -----------------------------------------------------------------------------------

    def _website_rows(self, conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        return self._rows_by_key(conn, _WEBSITE_COLUMNS, websites.c.website_id, keys)

    def _website_statuses(
        self, conn: Connection, entries: list[_Accepted], events: list[dict[str, Any]], result: BatchResult
    ) -> None:
        wanted = {(e.message.agent, e.message.website_id): e for e in entries}
        rows = self._website_rows(conn, list(wanted))
        missing = [key for key in wanted if key not in rows]
        if missing:
            conn.execute(
                self._insert(websites).on_conflict_do_nothing(index_elements=["agent_name", "website_id"]),
                [
                    {"agent_name": a, "website_id": w, "regency_code": wanted[(a, w)].regency,
                     "first_seen_at": wanted[(a, w)].item.received_at}
                    for a, w in missing
                ],
            )
            rows.update(self._website_rows(conn, missing))
        per_site: dict[tuple[str, str], list[_Accepted]] = defaultdict(list)
        for entry in entries:
            per_site[(entry.message.agent, entry.message.website_id)].append(entry)

        checks: list[dict[str, Any]] = []
        closes: list[dict[str, Any]] = []
        periods: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for key, reports in per_site.items():
            row = rows[key]
            pk = row["id"]
            reports.sort(key=lambda e: e.message.ts)
            final: dict[str, Any] | None = None  # only the newest applied report reaches the row
            for entry in reports:
                report: WebsiteStatus = entry.message
                state = website_state(report.availability.value, report.freshness.value)
                checks.append(
                    {
                        "website_pk": pk, "ts": report.ts, "received_at": entry.item.received_at, "state": state,
                        "availability": report.availability.value, "freshness": report.freshness.value,
                        "reason": report.reason, "message": _text(report.message),
                        "http_status": report.http_status, "response_ms": report.response_ms,
                        "tls_days_left": report.tls_days_left, "last_update": report.last_update,
                        "checks": _checks_json(report.checks),
                    }
                )
                current_ts = _newest(row["last_check_at"], row["status_since"])
                if current_ts is not None and report.ts < current_ts:
                    continue
                before = (row["state"], row["availability"], row["freshness"], row["reason"], row["url"])
                if (state, report.availability.value, report.freshness.value) != (
                    row["state"], row["availability"], row["freshness"]
                ) or row["status_since"] is None:
                    _close_and_open(row, state, report.reason, _text(report.message), report.ts, closes, periods,
                                    extra={"availability": report.availability.value,
                                           "freshness": report.freshness.value})
                    if state != row["state"] or row["status_since"] is None:
                        events.append(
                            _event(EventKind.WEBSITE_STATUS, report.ts, entry.regency, report.agent,
                                   report.website_id, old=row["state"] if row["status_since"] else "", new=state,
                                   reason=report.reason, message=report.message, website_pk=pk)
                        )
                    row["status_since"] = report.ts
                values = {
                    "state": state,
                    "availability": report.availability.value,
                    "freshness": report.freshness.value,
                    "reason": report.reason,
                    "message": _text(report.message),
                    "url": _text(report.url),
                    "reported_opd": _text(report.opd),
                    "http_status": report.http_status,
                    "response_ms": report.response_ms,
                    "tls_valid": report.tls_valid,
                    "tls_expires_at": report.tls_expires_at,
                    "tls_days_left": report.tls_days_left,
                    "last_update": report.last_update,
                    "last_update_signal": report.last_update_signal.value if report.last_update_signal else "",
                    "stale_after_days": report.stale_after_days,
                    "status_since": row["status_since"],
                    "last_check_at": report.ts,
                    "updated_at": entry.item.received_at,
                }
                row.update(values)
                final = values
                if before != (row["state"], row["availability"], row["freshness"], row["reason"], row["url"]):
                    result.changed_websites.add(pk)
                    result.changed_regencies.add(row["regency_code"])
            if final is not None:
                updates.append({"b_id": pk, **{f"b_{column}": final[column] for column in _WEBSITE_REPORT_COLUMNS}})
        conn.execute(_table(WebsiteCheck).insert(), checks)
        self._close_periods(conn, _table(WebsiteStatusChange), "website_pk", closes)
        if periods:
            conn.execute(_table(WebsiteStatusChange).insert(), [{"website_pk": p.pop("pk"), **p} for p in periods])
        if updates:
            updates.sort(key=lambda row: row["b_id"])  # id order, as for cameras
            self._fast.executemany(conn, _WEBSITE_STATUS_UPDATE, updates)

    # --- agents' own messages ----------------------------------------------------------------

    def _host_metrics(self, conn: Connection, entries: list[_Accepted]) -> None:
        rows = []
        for entry in entries:
            m: HostMetrics = entry.message
            rows.append(
                {
                    "agent_name": m.agent, "ts": m.ts, "received_at": entry.item.received_at,
                    "agent_version": _text(m.agent_version), "cpu_percent": m.cpu_percent, "load_1m": m.load_1m,
                    "memory_used_bytes": m.memory_used_bytes, "memory_total_bytes": m.memory_total_bytes,
                    "disk_used_bytes": m.disk_used_bytes, "disk_total_bytes": m.disk_total_bytes,
                    "temperatures_c": {_text(k): v for k, v in m.temperatures_c.items()},
                    "uptime_s": m.uptime_s, "net_bytes_sent": m.net_bytes_sent, "net_bytes_recv": m.net_bytes_recv,
                    "outbox_depth": m.outbox_depth, "outbox_bytes": m.outbox_bytes,
                    "outbox_dropped_total": m.outbox_dropped_total,
                    "outbox_rejected_total": m.outbox_rejected_total,
                }
            )
        conn.execute(_table(HostMetric).insert(), rows)

    def _command_results(self, conn: Connection, entries: list[_Accepted], events: list[dict[str, Any]]) -> None:
        table = _table(CommandRecord)
        for entry in entries:
            answer: CommandResult = entry.message
            state = CommandState.SUCCEEDED if answer.ok else CommandState.FAILED
            updated = conn.execute(
                update(table)
                .where(table.c.command_id == answer.command_id, table.c.agent_name == answer.agent)
                .values(
                    state=state.value,
                    completed_at=answer.ts,
                    result_ok=answer.ok,
                    result_message=_text(answer.message),
                    result_details=_json_safe(dict(answer.details)),
                )
            )
            if updated.rowcount == 0:
                log.info("result for unknown command %s from %s (not sent by this central?)", answer.command_id, answer.agent)
            events.append(_event(EventKind.COMMAND_RESULT, answer.ts, entry.regency, answer.agent, answer.command_id,
                                 new=state.value, reason=answer.name.value, message=answer.message))

    def _presence(
        self, conn: Connection, entries: list[_Accepted], events: list[dict[str, Any]], result: BatchResult
    ) -> None:
        # Arrival order, not ts: an agent builds its last will before the birth of the same connection.
        names = {e.message.agent for e in entries}
        online = dict(
            conn.execute(select(agents_table.c.name, agents_table.c.online).where(agents_table.c.name.in_(names))).all()
        )
        for entry in entries:
            message = entry.message
            agent = message.agent
            if isinstance(message, AgentBirth):
                conn.execute(
                    update(agents_table).where(agents_table.c.name == agent).values(
                        online=True, presence_since=message.ts, presence_ts=message.ts, offline_reason="",
                        agent_version=_text(message.agent_version), hostname=_text(message.hostname),
                        started_at=message.started_at, cameras_configured=message.cameras_configured,
                        websites_configured=message.websites_configured,
                    )
                )
                if not online.get(agent):
                    events.append(_event(EventKind.AGENT_ONLINE, message.ts, entry.regency, agent, agent, old="offline",
                                         new="online", message=_text(message.agent_version)))
                online[agent] = True
            else:
                # A last will carries the ts of when it was armed; the broker sends it when the link died.
                when = entry.item.received_at if message.reason == "connection_lost" else message.ts
                conn.execute(
                    update(agents_table).where(agents_table.c.name == agent).values(
                        online=False, presence_since=when, presence_ts=message.ts, offline_reason=message.reason
                    )
                )
                if online.get(agent, True):
                    events.append(_event(EventKind.AGENT_OFFLINE, when, entry.regency, agent, agent, old="online",
                                         new="offline", reason=message.reason))
                online[agent] = False
                self._agent_went_offline(conn, agent, entry.regency, when, events, result)
            result.changed_regencies.add(entry.regency)

    def _agent_went_offline(
        self, conn: Connection, agent: str, regency: str, when: dt.datetime,
        events: list[dict[str, Any]], result: BatchResult,
    ) -> None:
        """Its cameras' status is unknown from now on: nobody is watching them."""
        rows = conn.execute(
            select(cameras.c.id, cameras.c.camera_id, cameras.c.status, cameras.c.reason, cameras.c.message,
                   cameras.c.status_since, cameras.c.last_check_at)
            # A lost camera stays offline (lost): the agent was not watching it anyway.
            .where(cameras.c.agent_name == agent, cameras.c.status != CameraState.UNKNOWN.value,
                   cameras.c.lost_at.is_(None))
        ).mappings()
        closes: list[dict[str, Any]] = []
        periods: list[dict[str, Any]] = []
        changed: list[int] = []
        for raw in rows:
            row = dict(raw)
            current_ts = _newest(row["last_check_at"], row["status_since"])
            if current_ts is not None and current_ts > when:
                continue  # reported after the link died (store-and-forward backlog)
            _close_and_open(row, CameraState.UNKNOWN.value, AGENT_OFFLINE_REASON, "", when, closes, periods)
            events.append(_event(EventKind.CAMERA_STATUS, when, regency, agent, row["camera_id"], old=row["status"],
                                 new=CameraState.UNKNOWN.value, reason=AGENT_OFFLINE_REASON, camera_pk=row["id"]))
            changed.append(row["id"])
        if not changed:
            return
        self._close_periods(conn, _table(CameraStatusChange), "camera_pk", closes)
        conn.execute(_table(CameraStatusChange).insert(), [{"camera_pk": p.pop("pk"), **p} for p in periods])
        conn.execute(
            update(cameras).where(cameras.c.id.in_(changed)).values(
                status=CameraState.UNKNOWN.value, reason=AGENT_OFFLINE_REASON, message="", status_since=when,
                updated_at=when,
            )
        )
        result.changed_cameras.update(changed)

    # --- events, quarantine, counters ----------------------------------------------------------

    def _insert_events(self, conn: Connection, events: list[dict[str, Any]]) -> None:
        lock_event_ids(conn)
        conn.execute(_table(Event).insert(), events)

    def _quarantine(self, conn: Connection, rejected: list[_Rejected]) -> None:
        table = _table(QuarantinedMessage)
        rows: dict[str, dict[str, Any]] = {}
        for entry in rejected:
            item = entry.item
            digest = hashlib.sha256(item.topic.encode("utf-8", "replace") + b"\0" + item.payload).hexdigest()
            if digest in rows:
                rows[digest]["times_seen"] += 1
                continue
            rows[digest] = {
                "digest": digest,
                "topic": _text(item.topic[:1024]),
                "agent_name": entry.agent if entry.agent and topics.is_identifier(entry.agent) else None,
                "category": entry.category,
                "reason": _text(entry.reason[:2000]),
                "payload": item.payload[:QUARANTINE_PAYLOAD_BYTES],
                "payload_size": len(item.payload),
                "first_seen_at": item.received_at,
                "last_seen_at": item.received_at,
                "times_seen": 1,
            }
        statement = self._insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["digest"],
            set_={
                "times_seen": table.c.times_seen + statement.excluded.times_seen,
                "last_seen_at": statement.excluded.last_seen_at,
            },
        )
        conn.execute(statement, sorted(rows.values(), key=lambda r: r["digest"]))

    def _count(self, conn: Connection, result: BatchResult, rejected: list[_Rejected]) -> None:
        counts: Counter[str] = Counter()
        if result.stored:
            counts["stored"] = result.stored
        if result.duplicates:
            counts["duplicate"] = result.duplicates
        for entry in rejected:
            counts[f"quarantined.{entry.category}"] += 1
        if not counts:
            return
        table = _table(IngestCounter)
        statement = self._insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": table.c.value + statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        now = dt.datetime.now(dt.UTC)
        conn.execute(statement, [{"name": name, "value": value, "updated_at": now} for name, value in sorted(counts.items())])


# --- helpers --------------------------------------------------------------------------------------


def website_state(availability: str, freshness: str) -> str:
    """One word for a website: down wins; otherwise how fresh its content is."""
    if availability == WebsiteAvailability.DOWN.value:
        return WebsiteState.DOWN.value
    if freshness in (WebsiteState.FRESH.value, WebsiteState.STALE.value):
        return freshness
    return WebsiteState.UNKNOWN.value


def _newest(*values: dt.datetime | None) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _close_and_open(
    row: dict[str, Any], status: str, reason: str, message: str, at: dt.datetime,
    closes: list[dict[str, Any]], periods: list[dict[str, Any]], extra: dict[str, Any] | None = None,
) -> None:
    """End the row's current period at ``at`` and start one in ``status`` (both still to be written)."""
    pending = row.get("_open_period")
    if pending is not None:  # opened earlier in this batch: end it in memory
        pending["ended_at"] = at
        pending["duration_s"] = max(0.0, (at - pending["started_at"]).total_seconds())
    elif row["status_since"] is not None:
        closes.append({"b_pk": row["id"], "b_end": at,
                       "b_duration": max(0.0, (at - row["status_since"]).total_seconds())})
    period = {"pk": row["id"], "status" if extra is None else "state": status, "reason": reason, "message": message,
              "started_at": at, "ended_at": None, "duration_s": None, **(extra or {})}
    periods.append(period)
    row["_open_period"] = period


def _event(
    kind: EventKind, ts: dt.datetime, regency: str | None, agent: str, subject: str, *, old: str = "", new: str = "",
    reason: str = "", message: str = "", camera_pk: int | None = None, website_pk: int | None = None,
) -> dict[str, Any]:
    return {
        "ts": ts, "created_at": dt.datetime.now(dt.UTC), "kind": kind.value, "regency_code": regency,
        "agent_name": agent, "camera_pk": camera_pk, "website_pk": website_pk, "subject": subject[:64],
        "old_state": old, "new_state": new, "reason": reason, "message": _text(message[:2048]),
    }


def _identity_values(identity: Any) -> dict[str, Any]:
    return {
        "host": _text(identity.host), "port": identity.port, "name": _text(identity.name),
        "manufacturer": _text(identity.manufacturer), "model": _text(identity.model),
        "firmware": _text(identity.firmware), "serial": _text(identity.serial), "mac": _text(identity.mac),
        "endpoint_ref": _text(identity.endpoint_ref), "discovered_by": identity.discovered_by.value,
        "reported_opd": _text(identity.opd),
    }


def _text(value: str) -> str:
    """Text any database stores: no NUL (PostgreSQL refuses it) and no lone surrogates (not UTF-8)."""
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _json_safe(value: Any) -> Any:
    """JSON both backends accept: finite numbers, clean text."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _checks_json(checks: list[CheckOutcome]) -> EncodedJson | list[Any]:
    """A report's checks for the JSON column: pydantic's own encoding, or cleaned values when it has a NUL."""
    # Encoding in pydantic's core is ~10x cheaper than building the dicts for json.dumps. Its JSON
    # already maps non-finite floats to null and cannot hold lone surrogates (decoding refuses them);
    # only a NUL (\u0000, which PostgreSQL's JSONB refuses) needs the slow, cleaning path.
    encoded = _CHECKS.dump_json(checks)
    if b"\\u0000" not in encoded:
        return EncodedJson(encoded.decode())
    out = []
    for check in checks:
        duration = check.duration_ms
        details = check.details
        out.append(
            {
                "check": check.check,
                "outcome": check.outcome.value,
                "reason": check.reason,
                "message": _text(check.message),
                "duration_ms": duration if math.isfinite(duration) else None,
                "details": (details if _plain(details) else _json_safe(details)) if details else {},
            }
        )
    return out


def _plain(details: dict[str, Any]) -> bool:
    """A flat dict of ASCII text and finite numbers, which _json_safe would return unchanged (the usual case)."""
    for key, value in details.items():
        if type(key) is not str or not key.isascii() or "\x00" in key:
            return False
        kind = type(value)
        if kind is str:
            if not value.isascii() or "\x00" in value:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif not (kind is int or kind is bool or value is None):
            return False
    return True


def _out_of_range(message: Any) -> str:
    """The first number no column can hold (beyond int64, or a NaN/infinity in a numeric column)."""
    # vars() and exact type tests: this runs for every message, and pydantic's __iter__ is slower.
    for name, value in vars(message).items():
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int or (kind is not float and isinstance(value, int) and not isinstance(value, bool)):
            if not -INT64_MAX <= value <= INT64_MAX:
                return f"field {name!r}"
        elif kind is float or isinstance(value, float):
            if not math.isfinite(value):
                return f"field {name!r}"
        elif isinstance(value, dt.datetime) and not 1 <= value.year <= 9998:
            return f"field {name!r}"
    return ""


def _agent_from_topic(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) >= 4 and parts[:3] == ["scc", "v1", "agents"] and topics.is_identifier(parts[3]):
        return parts[3]
    return None

