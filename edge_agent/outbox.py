"""The on-disk outbox: every report is stored here first and deleted only when central has stored it.

A report goes through three states: waiting (stored, not sent), sent (the broker's PUBACK came with
success: :meth:`Outbox.mark_sent`), and gone (central named its msg_id in a ``reports_stored``
confirmation: :meth:`Outbox.confirm`). The broker's acknowledgement is not delivery: a broker may
accept a report no subscriber receives, or lose what it holds in a crash. A sent report that no
confirmation names in time goes back to waiting (:meth:`Outbox.resend_unconfirmed`) and is sent again
with the same msg_id, which central's dedupe makes harmless.

One SQLite file (WAL). The outbox also owns the per-agent ``seq`` (persisted, so it keeps
increasing across restarts) and hands out ``msg_id``s, which is why reports are built through
``add``: the builder receives the seq and msg_id and returns the finished message.

Bounds: ``max_bytes`` (payload bytes stored) and ``max_age_s``. When a bound is exceeded the
oldest reports go first, sent or not, except the latest report of each key (a camera's latest status):
central must always be able to learn where each camera stands now. Every drop is counted in a
persisted total that host metrics report.

A write that fails (disk full, database locked, I/O error) raises :class:`OutboxUnavailable` after
the outbox has logged it: once per condition, naming the file, and once more when writes work again
(with how many reports were lost meanwhile), so a full disk is one clear line, not one per report.
A report over the payload limit is refused with :class:`ReportTooLarge`, logged and counted as
rejected: stored, it would disconnect the agent at every send and hold up the whole queue.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from shared.codec import MAX_PAYLOAD_BYTES, encode, encode_thumbnail, topic_for
from shared.messages import CameraThumbnail, Message, new_message_id

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    key TEXT,
    latest INTEGER NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    sent REAL  -- when the broker accepted it (awaiting central's confirmation); NULL: waiting to be sent
);
CREATE INDEX IF NOT EXISTS outbox_droppable ON outbox (latest, seq);
-- The age bound is checked on every add: without this, each add scanned the whole backlog.
CREATE INDEX IF NOT EXISTS outbox_age ON outbox (latest, created);
CREATE INDEX IF NOT EXISTS outbox_key ON outbox (key) WHERE key IS NOT NULL;
"""
# Created after the upgrade below: an outbox written by an older agent has no ``sent`` column yet.
_CONFIRMATION_SCHEMA = """
CREATE INDEX IF NOT EXISTS outbox_msg_id ON outbox (msg_id);
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (sent) WHERE sent IS NOT NULL;
"""


class OutboxUnavailable(Exception):
    """The outbox could not write (disk full, locked, I/O error); already logged by the outbox."""


class ReportTooLarge(ValueError):
    """The report is bigger than the broker accepts; refused, logged and counted as rejected."""


def _describe(error: sqlite3.Error) -> str:
    # SQLITE_FULL's text ("database or disk is full") is what an operator greps for; say it plainly.
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(error):
        return f"disk full ({error})"
    return str(error)


@dataclass(frozen=True, slots=True)
class Pending:
    """A stored report waiting to be sent."""

    seq: int
    msg_id: str
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int  # every report stored: waiting plus awaiting confirmation
    bytes: int
    dropped_total: int
    rejected_total: int
    next_seq: int
    awaiting_confirmation: int = 0  # sent, not yet confirmed stored by central


class Outbox:
    """Thread-safe: the asyncio loop adds, sends and confirms; any thread may read the stats."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        max_age_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the agent; only power loss can lose the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "sent" not in columns:  # written by an agent that deleted on PUBACK: all of it waits to be sent
            self._db.execute("ALTER TABLE outbox ADD COLUMN sent REAL")
        self._db.executescript(_CONFIRMATION_SCHEMA)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', 1), ('dropped', 0), ('rejected', 0)")
            self._count_stored()
            self._next_seq = self._meta("next_seq")
            self._dropped = self._meta("dropped")
            self._rejected = self._meta("rejected")
            # A crash between allocating and storing must not reuse a seq.
            max_seq = self._db.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
            if max_seq is not None and max_seq >= self._next_seq:
                self._next_seq = max_seq + 1
        self._failing: str | None = None  # the write error being reported, until a write succeeds
        self._failed_writes = 0

    def _meta(self, name: str) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Both called with the lock held.
    def _write_failed(self, what: str, error: sqlite3.Error) -> OutboxUnavailable:
        problem = _describe(error)
        self._failed_writes += 1
        if problem != self._failing:
            self._failing = problem
            log.error("outbox %s: cannot %s: %s; reports are not being stored until this is fixed "
                      "(logged once; the agent keeps checking)", self.path, what, problem)
        return OutboxUnavailable(f"outbox {self.path}: cannot {what}: {problem}")

    def _write_ok(self) -> None:
        if self._failing is not None:
            log.warning("outbox %s: writable again after %s; %d write(s) failed meanwhile",
                        self.path, self._failing, self._failed_writes)
            self._failing, self._failed_writes = None, 0

    @property
    def failing(self) -> str | None:
        """Why writes fail right now (e.g. 'disk full (...)'), or None."""
        return self._failing

    # --- writing ---------------------------------------------------------------------------

    def allocate(self) -> tuple[int, str]:
        """A seq and msg_id for a message that is published directly (birth, last will).

        Never fails: the birth and will must go out even on a full disk. If the counter cannot be
        persisted now, the next successful write persists it (every add writes next_seq).
        """
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            try:
                self._db.execute("UPDATE meta SET value = ? WHERE name = 'next_seq'", (self._next_seq,))
            except sqlite3.Error as error:
                self._write_failed("persist the message counter", error)
            else:
                self._write_ok()
        return seq, new_message_id()

    def add(
        self,
        build: Callable[[int, str], Message],
        *,
        key: str | None = None,
        jpeg: bytes | None = None,
        retain: bool = False,
    ) -> Message:
        """Build the message with the next seq and a new msg_id, store it, enforce the bounds."""
        with self._lock:
            seq = self._next_seq
            msg_id = new_message_id()
            message = build(seq, msg_id)
            if isinstance(message, CameraThumbnail):
                if jpeg is None:
                    raise ValueError("a thumbnail needs its JPEG")
                payload = encode_thumbnail(message, jpeg)
            else:
                payload = encode(message)
            topic = topic_for(message)
            if len(payload) > MAX_PAYLOAD_BYTES:
                self._refuse_too_large(topic, len(payload))
            self._next_seq = seq + 1
            try:
                self._db.execute("BEGIN")
                self._db.execute("UPDATE meta SET value = ? WHERE name = 'next_seq'", (self._next_seq,))
                if key is not None:
                    self._db.execute("UPDATE outbox SET latest = 0 WHERE key = ? AND latest = 1", (key,))
                self._db.execute(
                    "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (seq, msg_id, topic, payload, int(retain), key, int(key is not None), self._clock(),
                     len(payload)),
                )
                self._depth += 1
                self._bytes += len(payload)
                self._enforce_bounds()
                self._db.execute("COMMIT")
            except BaseException as error:
                # SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR).
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._reload_counters()
                if isinstance(error, sqlite3.Error):
                    raise self._write_failed(f"store {topic}", error) from error
                raise
            self._write_ok()
        return message

    def _refuse_too_large(self, topic: str, size: int) -> None:
        self._rejected += 1
        try:
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'rejected'", (self._rejected,))
        except sqlite3.Error as error:
            self._write_failed("count a rejected report", error)
        log.error("outbox %s: refusing a %d-byte report for %s: over the %d-byte limit the broker accepts "
                  "(%d rejected in total)", self.path, size, topic, MAX_PAYLOAD_BYTES, self._rejected)
        raise ReportTooLarge(f"{size}-byte report for {topic} exceeds the {MAX_PAYLOAD_BYTES}-byte limit")

    def _count_stored(self) -> None:
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0), COUNT(sent) FROM outbox").fetchone()
        self._depth, self._bytes, self._awaiting = int(row[0]), int(row[1]), int(row[2])

    def _reload_counters(self) -> None:
        self._count_stored()
        self._dropped = self._meta("dropped")

    def _enforce_bounds(self) -> None:
        dropped = 0
        cutoff = self._clock() - self.max_age_s
        old = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE latest = 0 AND created < ?", (cutoff,)
        ).fetchone()
        if old[0]:
            self._db.execute("DELETE FROM outbox WHERE latest = 0 AND created < ?", (cutoff,))
            dropped += int(old[0])
            self._depth -= int(old[0])
            self._bytes -= int(old[1])
        if self._bytes > self.max_bytes:
            excess = self._bytes - self.max_bytes
            freed = 0
            last_seq = None
            count = 0
            for seq, size in self._db.execute("SELECT seq, size FROM outbox WHERE latest = 0 ORDER BY seq"):
                freed += size
                count += 1
                last_seq = seq
                if freed >= excess:
                    break
            if last_seq is not None:
                self._db.execute("DELETE FROM outbox WHERE latest = 0 AND seq <= ?", (last_seq,))
                dropped += count
                self._depth -= count
                self._bytes -= freed
        if dropped:
            # Dropped reports may have been sent already: count what still awaits confirmation afresh.
            self._awaiting = int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE sent IS NOT NULL").fetchone()[0])
            self._dropped += dropped
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'dropped'", (self._dropped,))
            log.warning("outbox full: dropped %d oldest report(s) (%d in total)", dropped, self._dropped)

    # --- sending and confirming ------------------------------------------------------------

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[Pending]:
        """Reports waiting to be sent with seq > ``after_seq``, oldest first (sent ones await confirmation)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, msg_id, topic, payload, retain FROM outbox WHERE seq > ? AND sent IS NULL "
                "ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Pending(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), bool(r[4])) for r in rows]

    def mark_sent(self, seq: int) -> bool:
        """The broker accepted the report: keep it until central confirms. False if it is gone already.

        Raises OutboxUnavailable if the update fails: the report stays waiting and is sent again.
        """
        with self._lock:
            try:
                changed = self._db.execute("UPDATE outbox SET sent = ? WHERE seq = ? AND sent IS NULL",
                                           (self._clock(), seq)).rowcount
            except sqlite3.Error as error:
                raise self._write_failed(f"mark report seq {seq} sent", error) from error
            self._write_ok()
            self._awaiting += changed
        return changed > 0

    def confirm(self, msg_ids: Iterable[str]) -> int:
        """Central has stored these reports: forget them. Returns how many were still here.

        Ids not here (confirmed before, dropped, another agent's) are ignored. Raises OutboxUnavailable
        if the delete fails: the reports stay and a later confirmation of their resend removes them.
        """
        ids = json.dumps(list(msg_ids))
        with self._lock:
            try:
                self._db.execute("BEGIN")
                gone = self._db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0), COUNT(sent) FROM outbox "
                    "WHERE msg_id IN (SELECT value FROM json_each(?))", (ids,)).fetchone()
                self._db.execute("DELETE FROM outbox WHERE msg_id IN (SELECT value FROM json_each(?))", (ids,))
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise self._write_failed("delete confirmed reports", error) from error
            self._write_ok()
            self._depth -= int(gone[0])
            self._bytes -= int(gone[1])
            self._awaiting -= int(gone[2])
        return int(gone[0])

    def resend_unconfirmed(self, older_than_s: float) -> tuple[int, int] | None:
        """Sent reports unconfirmed for ``older_than_s`` go back to waiting: (lowest seq, how many), or None."""
        cutoff = self._clock() - older_than_s
        with self._lock:
            try:
                self._db.execute("BEGIN")
                row = self._db.execute("SELECT MIN(seq), COUNT(*) FROM outbox WHERE sent < ?", (cutoff,)).fetchone()
                self._db.execute("UPDATE outbox SET sent = NULL WHERE sent < ?", (cutoff,))
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise self._write_failed("requeue unconfirmed reports", error) from error
            self._write_ok()
            self._awaiting -= int(row[1])
        return None if row[0] is None else (int(row[0]), int(row[1]))

    def reject(self, seq: int) -> bool:
        """The broker refused the report for good (ACL, invalid): forget it, count it, never retry it.

        False if it was already gone; raises OutboxUnavailable if the delete fails (it is sent again).
        """
        with self._lock:
            row = self._db.execute("SELECT size FROM outbox WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                return False
            self._rejected += 1
            try:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            except sqlite3.Error as error:
                self._rejected -= 1
                raise self._write_failed(f"delete refused report seq {seq}", error) from error
            self._depth -= 1
            self._bytes -= int(row[0])
            try:
                self._db.execute("UPDATE meta SET value = ? WHERE name = 'rejected'", (self._rejected,))
            except sqlite3.Error as error:
                # The report is gone already; only the persisted total lags until the next count.
                self._write_failed("count a rejected report", error)
            else:
                self._write_ok()
        return True

    def stats(self) -> OutboxStats:
        with self._lock:
            return OutboxStats(self._depth, self._bytes, self._dropped, self._rejected, self._next_seq,
                               self._awaiting)
