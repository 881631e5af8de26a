"""The ingest worker: a shared MQTT subscription feeding batches to the database, acked after commit.

Threads: paho's network thread only hands messages over (``subscription.py``); the worker's own
thread builds batches, writes them, acknowledges them (``manual_ack``), then has the public state
follow (``publishing.py``) and runs the housekeeping when due (``upkeep.py``). Several workers may run
against one broker: the shared subscription ``$share/<group>/scc/v1/agents/#`` gives each message to
one of them.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from central.config import CentralConfig
from central.ingest.agents import AgentDirectory
from central.ingest.confirm import confirmations
from central.ingest.fair import FairQueue
from central.ingest.publishing import PublicRounds
from central.ingest.sight import Sight
from central.ingest.store import BatchResult, BatchWriter, Received, StoreSettings, is_unavailable
from central.ingest.subscription import Subscription
from central.ingest.upkeep import Upkeep
from central.storage.db import Database
from central.storage.outage import WriteOutage
from shared import sdnotify
from shared.mqtt import QOS_AT_LEAST_ONCE

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
# How often agents whose link died are checked against the offline grace period (a cheap indexed-free
# query on the small agents table): an agent goes offline at most this late after its grace ends.
SETTLE_INTERVAL_S = 2.0
# With automatic collection off (the ingest command turns it off), cycles are collected this often.
GC_INTERVAL_S = 10.0


@dataclass(slots=True)
class Totals:
    """Running totals since the worker started (the database keeps the durable counters)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: int = 0
    flagged: int = 0
    batches: int = 0
    confirmations: int = 0
    cleared: int = 0  # refused retained messages cleared from the broker (retention.py)

    def add(self, result: BatchResult) -> None:
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined
        self.ignored += result.ignored
        self.flagged += result.flagged
        self.batches += 1


class IngestWorker:
    """One ingest process's MQTT client, batcher and writer; ``run()`` until ``stop()``."""

    def __init__(self, config: CentralConfig, database: Database, directory: AgentDirectory,
                 *, worker: int = 0, on_batch: Callable[[BatchResult], None] | None = None) -> None:
        self.config = config
        self.database = database
        ingest = config.ingest
        self.writer = BatchWriter(
            database,
            directory,
            StoreSettings(
                thumbnails_per_camera=ingest.thumbnails_per_camera, max_clock_skew_s=ingest.max_clock_skew_s,
                republish=ingest.republish, offline_grace_s=ingest.agent_offline_grace_s,
                agent_silence_s=ingest.agent_silence_s,
                max_cameras_per_agent=ingest.max_cameras_per_agent, max_websites_per_agent=ingest.max_websites_per_agent,
                clock_flag_s=ingest.clock_flag_s, province_agents=tuple(config.province.agents),
            ),
        )
        self.writer.defer_staging = True  # PublicRounds stages after the commits (publishing.py)
        self.totals = Totals()
        self.on_batch = on_batch
        self._stop = threading.Event()
        self._waiting = FairQueue()  # taken from the inbox, not yet in a batch (the worker's thread only)
        self._next_maintenance = time.monotonic() + ingest.maintenance_interval_s
        self._next_gc = time.monotonic() + GC_INTERVAL_S
        self._next_settle = 0.0
        self._watchdog_s = sdnotify.watchdog_interval()
        self._next_watchdog = 0.0
        self.outage = WriteOutage(log, database.url, "reports stay unacknowledged (the agents keep them) and are "
                                  "retried until it can write again")
        # Presence's grace period counts only while every live worker sees and stores (sight.py, central_sight.py).
        self.sight = Sight()
        self.subscription = Subscription(config, worker, self.sight)
        self.public = PublicRounds(config, database, self.writer, self.subscription.client,
                                   self.subscription.connected, self._unwritable)  # fmt: skip
        self.upkeep = Upkeep(config, database, self.writer, self.public, self.sight, worker)

    # --- lifecycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Write batches until stop(); then disconnect, leaving unacknowledged messages to the broker."""
        self.subscription.start()
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if batch:
                    self._write_and_ack(batch)
                self._periodic()
                self._pet_watchdog()
        finally:
            sdnotify.notify_stopping("finishing and disconnecting")
            self.public.next_stage = 0.0
            self._guarded("staging public state", self.public.stage_due)
            self._guarded("recording its sight", self.upkeep.stopping)
            self.subscription.close()
            log.info("ingest stopped: %s; %d public updates published", self.totals, self.public.published)

    def _pet_watchdog(self) -> None:
        # Only from this loop: a batch stuck retrying an unavailable database stops the pings, and
        # systemd's restart (the batch unacknowledged, so redelivered) is the right outcome then.
        if self._watchdog_s is None:
            return
        now = time.monotonic()
        if now >= self._next_watchdog:
            self._next_watchdog = now + self._watchdog_s
            sdnotify.notify_watchdog()

    # --- batches --------------------------------------------------------------------------------

    def _collect(self) -> list[Received]:
        """The next batch, shared fairly between the agents with messages waiting (``fair.py``)."""
        ingest = self.config.ingest
        if not self.subscription.take(self._waiting, ingest.batch_interval_s):
            return []
        return self._waiting.take(ingest.batch_size, ingest.batch_max_bytes)

    def _write_and_ack(self, batch: list[Received]) -> None:
        self.totals.received += len(batch)
        result = self._store(batch)
        if result is None:
            return
        self.subscription.ack(batch)
        self._guarded("confirming stored reports", lambda: self._confirm(result))
        if result.clear_retained:
            self._guarded("clearing refused retained messages", lambda: self._clear_retained(result))
        self.totals.add(result)
        # After the ack nothing may escape run(): the batch is committed, and a failure to stage, publish
        # or report it (a full disk in mark_published, say) must not take the whole ingest down.
        self.public.changed(result.changed_cameras, result.changed_websites, result.changed_regencies)
        self._guarded("staging public state", self.public.stage_due)
        if self.on_batch is not None:
            on_batch = self.on_batch
            self._guarded("the on_batch callback", lambda: on_batch(result))

    def _confirm(self, result: BatchResult) -> None:
        """Tell each agent what this committed batch holds of its reports (see confirm.py)."""
        for topic, payload in confirmations(result.durable_ids, dt.datetime.now(dt.UTC)):
            # Not connected: paho queues it for the next connection; lost, the agent resends and we confirm again.
            self.subscription.client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE)
            self.totals.confirmations += 1

    def _clear_retained(self, result: BatchResult) -> None:
        """Delete the retained messages this committed batch refused: an empty retained message on each topic.

        After the commit, so the broker drops a message only once the database holds it (stored or in
        quarantine). Not connected: paho sends it on the next connection; lost, the message is still
        retained and comes again, flagged, at the next subscription, and is cleared then (retention.py).
        """
        for topic in sorted(result.clear_retained):
            try:
                self.subscription.client.publish(topic, b"", qos=QOS_AT_LEAST_ONCE, retain=True)
            except ValueError as error:  # paho refuses a topic no broker delivers: it must not stop the rest
                log.warning("cannot clear %r: %s", topic[:200], error)
                continue
            self.totals.cleared += 1

    def _store(self, batch: list[Received]) -> BatchResult | None:
        """Write ``batch`` (or quarantine it); None when stopping with it unwritten and unacknowledged."""
        delay = RETRY_MIN_S
        while True:
            try:
                result = self.writer.write(batch)
            except Exception as error:
                if not is_unavailable(error):
                    quarantined = self._quarantine_batch(batch, error)
                    if quarantined is not None:
                        return quarantined
                else:
                    # Keep the batch (unacknowledged) and retry: the database will come back, the disk
                    # will have room again. Said once, not per batch or retry (outage.py).
                    self._unwritable(error)
            else:
                self._writable()
                return result
            if self._stop.wait(delay):
                log.warning("stopping with an unwritten batch of %d; the broker will redeliver it", len(batch))
                return None
            if self.outage.disk_full:
                # Alive and doing the right thing: a restart by systemd's watchdog cannot free the disk, it
                # would only say the same again and make the broker redeliver everything in flight.
                self._pet_watchdog()
            delay = min(delay * 2, RETRY_MAX_S)

    def _unwritable(self, error: BaseException) -> None:
        self.sight.storing(False)
        before = self.outage.condition
        line = self.outage.failed(error)
        if self.outage.condition != before:  # what `systemctl status` shows, once per condition
            sdnotify.notify_status(f"not storing: {line}")

    def _writable(self) -> None:
        self.sight.storing(True)
        if self.outage.condition is not None:
            self.outage.recovered()
            sdnotify.notify_status("storing reports")

    def _quarantine_batch(self, batch: list[Received], error: Exception) -> BatchResult | None:
        """A bug or an environment fault, not the database: quarantine the batch so the stream moves on.

        Retrying would fail the same way for ever (and after a restart, on redelivery), stopping ingest
        for every regency; quarantined messages keep their payload, so nothing is lost.
        """
        what = f"{type(error).__name__}: {error}"
        log.error("internal error storing a batch of %d (%s); quarantining its messages", len(batch), what,
                  exc_info=error)
        try:
            return self.writer.quarantine_all(batch, f"internal error: {what}")
        except Exception as second:
            if is_unavailable(second):
                self._unwritable(second)
            else:
                log.exception("cannot quarantine the batch of %d either; retrying it", len(batch))
            return None

    # --- periodic work ------------------------------------------------------------------------

    def _periodic(self) -> None:
        now = time.monotonic()
        ingest = self.config.ingest
        self._guarded("staging public state", self.public.stage_due)
        if self.public.summaries_due(now):
            self._guarded("public summaries", lambda: self.public.summaries(now))
        if self.subscription.live_sweep is not None and self.subscription.connected.is_set():
            self._guarded("sweeping the live tree", lambda: self._sweep_live(now))
        if now >= self._next_settle:
            self._next_settle = now + SETTLE_INTERVAL_S
            self._guarded("settling lost agent links", self._settle)
        if now >= self._next_gc and not gc.isenabled():
            self._next_gc = now + GC_INTERVAL_S
            gc.collect()
        if now >= self._next_maintenance:
            self._next_maintenance = now + ingest.maintenance_interval_s
            self._guarded("maintenance", self._maintenance)

    def _settle(self) -> None:
        self.upkeep.settle_lost_links()
        self._writable()  # it wrote this worker's heartbeat: a write outage is over, batch or none

    def _maintenance(self) -> None:
        self.upkeep.maintenance()
        # It always writes: done, the database takes writes again even if no batch has come to say so
        # (else a disk full while nothing arrived would leave the worker blind, sight.py, for good).
        self._writable()

    def _sweep_live(self, now: float) -> None:
        assert self.subscription.live_sweep is not None
        self.subscription.live_sweep.run_if_due(now)

    def _guarded(self, what: str, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as error:
            if is_unavailable(error):
                self._unwritable(error)  # one line for the whole outage, not a traceback per timer tick
            else:
                log.exception("%s failed; retrying at the next interval", what)
