"""Write one batch of received MQTT messages in one transaction: decode, vet, dedupe, apply, quarantine.

The batch either commits whole or not at all; the worker acknowledges its messages only afterwards,
so a crash means redelivery, and redelivery means nothing because every stored message's msg_id is
claimed in ``ingested_messages`` inside the same transaction.

A batch that fails for a reason other than the database being unreachable is split: each message is
retried alone, and one that still fails is quarantined (``store_error``) instead of blocking the rest.

This module owns the transaction, the dedupe claim, the quarantine and the counters. Vetting is
``vet.py``; each message kind is applied by its own module, listed in ``apply/registry.py``; every
change of a camera's or website's state goes through ``central/storage/transitions.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from central.ingest import public, retention
from central.ingest.agents import AgentDirectory
from central.ingest.apply.context import Batch
from central.ingest.apply.registry import apply_all
from central.ingest.batch import Accepted, BatchResult, Received, Rejected, StoreSettings
from central.ingest.clocks import AgentClocks
from central.ingest.fastsql import FastExecutor
from central.ingest.refusals import RefusalLog
from central.ingest.turns import WriteTurns
from central.ingest.vet import agent_from_topic, vet
from central.storage.db import Database, dialect_insert
from central.storage.models import (
    QUARANTINE_PAYLOAD_BYTES,
    IngestCounter,
    IngestedMessage,
    QuarantinedMessage,
)
from central.storage.outage import is_unavailable
from central.storage.text import clean_text
from central.storage.transitions import Republish, Transitions
from shared import topics
from shared.messages import Envelope

__all__ = ["BatchResult", "BatchWriter", "Received", "StoreSettings", "is_unavailable"]

log = logging.getLogger(__name__)

_ingested = cast(Table, IngestedMessage.__table__)
_quarantined = cast(Table, QuarantinedMessage.__table__)
_counters = cast(Table, IngestCounter.__table__)
_CLAIM_INSERT = _ingested.insert()
_SEEN_IDS = func.json_each(bindparam("b_ids")).table_valued("value")
_SEEN_MSG_IDS = select(_ingested.c.msg_id, _ingested.c.agent_name).where(
    _ingested.c.msg_id.in_(select(_SEEN_IDS.c.value))
)


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
        self._clock = AgentClocks(self.settings.clock_flag_s)
        self._refusals = RefusalLog()
        # The worker stages public state after the commit, coalesced over several batches (see
        # stage_public): the report-write turn, SQLite's one writer, then holds no staging work.
        self.defer_staging = False

    def _forget(self) -> None:
        """A transaction rolled back: the agents it inserted and the clocks it wrote may not be there."""
        self._known_agents.clear()
        self._clock.forget()

    def stage_public(self, camera_pks: set[int] | None, website_pks: set[int] | None) -> None:
        """Stage the public state of these cameras and websites (None: all of them) in a transaction of its own.

        Staging all cameras (the start-up round) also clears the topics of a former owner (public.stage_moved).
        """
        province = self.settings.province_agents
        with self.turns.turn(), self.database.session(write=True) as session:
            conn = session.connection()
            now = dt.datetime.now(dt.UTC)
            public.stage_cameras(conn, public.all_cameras(conn) if camera_pks is None else camera_pks, now, province)
            public.stage_websites(
                conn, public.all_websites(conn) if website_pks is None else website_pks, now, province
            )
            if camera_pks is None:
                public.stage_moved(conn, now, province)

    # --- entry point ------------------------------------------------------------------------

    def write(self, batch: Sequence[Received]) -> BatchResult:
        """Store ``batch``; raises only when the database is unavailable (nothing was written then)."""
        vetted = vet(batch, self.directory, self.settings.max_clock_skew_s)
        accepted, rejected = vetted.accepted, vetted.rejected
        try:
            result = self._write(accepted, rejected, vetted.clock_ahead, vetted.flagged)
        except Exception as error:
            if is_unavailable(error) or (len(batch) == 1 and not accepted):
                raise
            self._forget()  # the rolled-back transaction may have inserted some
            log.warning("batch of %d failed (%s); storing its messages one by one", len(batch), error)
            result = self._write_one_by_one(accepted, rejected, vetted.flagged)
        result.ignored += vetted.ignored
        return result

    def quarantine_all(self, batch: Sequence[Received], reason: str) -> BatchResult:
        """Quarantine every message of ``batch`` unread (category ``internal_error``).

        The worker's way out when ``write`` failed for a reason that is neither the database being
        unavailable nor the data: retrying such a batch fails the same way for ever and stops the
        stream for every regency, while quarantined messages keep their payload for a later replay.
        """
        self._forget()  # a failed write may have rolled back agents it inserted
        rejected = [Rejected(item, "internal_error", reason, agent_from_topic(item.topic)) for item in batch]
        return self._write([], rejected)

    def _write_one_by_one(self, accepted: list[Accepted[Envelope]], rejected: list[Rejected],
                          flagged: list[Rejected]) -> BatchResult:
        total = BatchResult()
        for single in accepted:
            try:
                total.add(self._write([single], []))
            except Exception as error:
                if is_unavailable(error):
                    raise
                self._forget()
                log.error("quarantining %s: cannot be stored: %s", single.item.topic, error)
                reason = f"store error: {type(error).__name__}: {error}"[:2000]
                agent = single.decoded.topic.agent
                rejected.append(Rejected(single.item, "store_error", reason, agent, single.message.msg_id))
        if rejected or flagged:
            total.add(self._write([], rejected, flagged=flagged))
        return total

    def _write(self, accepted: list[Accepted[Envelope]], rejected: list[Rejected],
               clock_ahead: dict[str, float] | None = None, flagged: Sequence[Rejected] = ()) -> BatchResult:
        result = BatchResult()
        flags = list(flagged)
        before = len(rejected)
        with self.turns.turn(), self.database.session(write=True) as session:
            conn = session.connection()
            fresh = self._claim(conn, accepted) if accepted else []
            result.duplicates = len(accepted) - len(fresh)
            if fresh:
                transitions = Transitions(Republish(result.changed_cameras, result.changed_websites,
                                                    result.changed_regencies))
                applied = Batch(conn, self.settings, self._fast, self._postgres, transitions, result,
                                self._known_agents)
                apply_all(applied, fresh)
                flags = retention.merge_refused(flags, applied.refused)
                rejected = rejected + applied.refused
                if self.settings.republish and not self.defer_staging:
                    now = dt.datetime.now(dt.UTC)
                    public.stage_cameras(conn, result.changed_cameras, now, self.settings.province_agents)
                    public.stage_websites(conn, result.changed_websites, now, self.settings.province_agents)
            result.stored = len(fresh) - (len(rejected) - before)
            # Flags are stored reports, quarantined too for being retained against the contract (retention.py).
            quarantined = rejected + flags
            if quarantined:
                self._quarantine(conn, quarantined)
            result.quarantined, result.flagged = len(rejected), len(flags)
            if clock_ahead:
                self._clock.record(conn, clock_ahead)
            self._count(conn, result, quarantined)
        # Committed: every accepted message is stored (now, or before as a duplicate), every rejected one
        # is in quarantine with its payload; resending any of them cannot change that.
        for entry in accepted:
            result.held(entry.message.agent, entry.message.msg_id)
        for refused in rejected[:before]:  # those refused by a handler are among the accepted
            result.held(refused.agent, refused.msg_id)
        self._refusals.log(quarantined)
        result.clear_retained = retention.topics_to_clear(quarantined)
        for agent_name, regency in ((a.decoded.topic.agent, a.regency) for a in fresh):
            if agent_name:
                self._known_agents[agent_name] = regency
        return result

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        return dialect_insert(table, self._postgres)

    def _claim(self, conn: Connection, accepted: list[Accepted[Envelope]]) -> list[Accepted[Envelope]]:
        """Record each msg_id; keep only the messages whose id was not stored before."""
        if self._postgres:
            rows = [
                {"msg_id": a.message.msg_id, "agent_name": a.message.agent, "received_at": a.item.received_at}
                for a in accepted
            ]
            statement = (
                self._insert(_ingested).on_conflict_do_nothing(index_elements=["msg_id", "agent_name"])
                .returning(_ingested.c.msg_id, _ingested.c.agent_name)
            )
            claimed = {(msg_id, agent) for msg_id, agent in conn.execute(statement, rows)}
            return [a for a in accepted if (a.message.msg_id, a.message.agent) in claimed]
        # SQLite has one writer (this transaction holds it): ids not there now cannot appear before the
        # commit. A lookup and a plain executemany cost less than an INSERT ... RETURNING of 1,000 rows.
        ids = json.dumps([a.message.msg_id for a in accepted])
        seen = {(msg_id, agent) for msg_id, agent in conn.execute(_SEEN_MSG_IDS, {"b_ids": ids})}
        fresh = [a for a in accepted if (a.message.msg_id, a.message.agent) not in seen]
        self._fast.executemany(
            conn, _CLAIM_INSERT,
            [{"msg_id": a.message.msg_id, "agent_name": a.message.agent, "received_at": a.item.received_at}
             for a in fresh],
        )
        return fresh

    def _quarantine(self, conn: Connection, rejected: list[Rejected]) -> None:
        table = _quarantined
        rows: dict[str, dict[str, Any]] = {}
        for entry in rejected:
            item = entry.item
            digest = hashlib.sha256(item.topic.encode("utf-8", "replace") + b"\0" + item.payload).hexdigest()
            if digest in rows:
                rows[digest]["times_seen"] += 1
                continue
            rows[digest] = {
                "digest": digest,
                "topic": clean_text(item.topic[:1024]),
                "agent_name": entry.agent if entry.agent and topics.is_identifier(entry.agent) else None,
                "category": entry.category,
                "reason": clean_text(entry.reason[:2000]),
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

    def _count(self, conn: Connection, result: BatchResult, rejected: list[Rejected]) -> None:
        counts: Counter[str] = Counter()
        if result.stored:
            counts["stored"] = result.stored
        if result.duplicates:
            counts["duplicate"] = result.duplicates
        for entry in rejected:
            counts[f"quarantined.{entry.category}"] += 1
        if not counts:
            return
        table = _counters
        statement = self._insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": table.c.value + statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        now = dt.datetime.now(dt.UTC)
        conn.execute(statement, [{"name": name, "value": value, "updated_at": now} for name, value in sorted(counts.items())])


