"""The ingest worker: a shared MQTT subscription feeding batches to the database, acked after commit.

Threads: paho's network thread only hands messages over (``on_publish_received``); the worker's own
thread builds batches, writes them, acknowledges them (``manual_ack``), then has the public state
follow (``publishing.py``) and runs the housekeeping when due (``upkeep.py``). Several workers may run against one broker: the shared subscription
``$share/<group>/scc/v1/agents/#`` gives each message to one of them.
"""

from __future__ import annotations

import collections
import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.config import CentralConfig
from central.ingest import retention
from central.ingest.acks import ack_all
from central.ingest.agents import AgentDirectory
from central.ingest.confirm import confirmations
from central.ingest.fair import FairQueue
from central.ingest.publishing import PublicRounds
from central.ingest.reader import BufferedReadClient
from central.ingest.sight import Sight
from central.ingest.store import BatchResult, BatchWriter, Received, StoreSettings, is_unavailable
from central.ingest.upkeep import Upkeep
from central.storage.db import Database
from central.storage.outage import WriteOutage
from shared import sdnotify, topics
from shared.mqtt import (
    CENTRAL_RECONNECT_MAX_S,
    QOS_AT_LEAST_ONCE,
    LinkLog,
    TlsFiles,
    ingest_worker_purpose,
    make_client,
    reason_is_success,
    session_properties,
)

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
# How often agents whose link died are checked against the offline grace period (a cheap indexed-free
# query on the small agents table): an agent goes offline at most this late after its grace ends.
SETTLE_INTERVAL_S = 2.0
# With automatic collection off (the ingest command turns it off), cycles are collected this often.
GC_INTERVAL_S = 10.0


def shared_subscription(group: str) -> str:
    return f"$share/{group}/{topics.ALL_AGENT_TOPICS}"


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


def worker_tls(config: CentralConfig, worker: int) -> TlsFiles:
    """Worker ``worker``'s certificate: its name is its client id and so its own persistent session."""
    tls = config.broker.tls
    return tls if worker == 0 else tls.sibling(ingest_worker_purpose(worker))


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
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        # The network thread appends and sets _arrived only when it was clear; the worker clears it
        # before taking what is there, so a message appended after that sets it again.
        self._inbox: collections.deque[Received] = collections.deque()
        self._arrived = threading.Event()
        self._waiting = FairQueue()  # taken from the inbox, not yet in a batch (the worker's thread only)
        # Bumped on every connect and disconnect: packet ids of an older connection must not be acked,
        # and acks queued while paho reconnects would go out on the new connection.
        self._generation = 0
        self._next_maintenance = time.monotonic() + ingest.maintenance_interval_s
        self._next_gc = time.monotonic() + GC_INTERVAL_S
        self._next_settle = 0.0
        self._ready_sent = False
        self._watchdog_s = sdnotify.watchdog_interval()
        self._next_watchdog = 0.0
        self.client = cast(BufferedReadClient, make_client(worker_tls(config, worker), logger=log,
                                                            client_class=BufferedReadClient,
                                                            reconnect_max_s=CENTRAL_RECONNECT_MAX_S))
        self.client.manual_ack_set(True)
        self.outage = WriteOutage(log, database.url, "reports stay unacknowledged (the agents keep them) and are "
                                  "retried until it can write again")
        self.link = LinkLog(log, f"{config.broker.host}:{config.broker.port}")
        self.link.watch(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_publish_received = self._on_publish
        self.public = PublicRounds(config, database, self.writer, self.client, self.connected, self._unwritable)
        # Presence's grace period counts only while every live worker sees and stores (sight.py, central_sight.py).
        self.sight = Sight()
        self.upkeep = Upkeep(config, database, self.writer, self.public, self.sight, worker)
        # Worker 0 alone sweeps the live-view tree for retained frames (retention.py): one is enough.
        self.live_sweep = retention.LiveSweep(self.client) if worker == 0 else None

    # --- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, _properties: object) -> None:
        if not reason_is_success(reason):
            self.link.refused(reason)
            return
        self._generation += 1
        self.connected.set()
        self.link.connected(flags.session_present)
        # Every time, whatever the broker restored: Mosquitto 2.0.11 does not restore a durable client's
        # shared subscriptions, and one that lost its state (kill -9) restores nothing (docs/scaling.md).
        # Retain-As-Published: each message keeps its publisher's retain flag, which retention.py audits.
        client.subscribe(shared_subscription(self.config.broker.share_group),
                         options=SubscribeOptions(qos=QOS_AT_LEAST_ONCE, retainAsPublished=True))
        if self.live_sweep is not None:
            # A sweep cut short by a disconnect may have left its subscription in the persistent session.
            self.live_sweep.reset()
            client.unsubscribe(f"{topics.LIVE}/#")

    def _on_subscribe(self, _client: mqtt.Client, _userdata: object, mid: int, reasons: list[ReasonCode],
                      _properties: object) -> None:
        if self.live_sweep is not None and self.live_sweep.acknowledged(mid):
            return
        if all(reason_is_success(r) for r in reasons):
            self.subscribed.set()
            self.sight.linked(True)
            if not self._ready_sent:  # systemd's start-up ends at the first subscription, not every resubscribe
                self._ready_sent = True
                sdnotify.notify_ready("subscribed")
        else:
            log.error("subscription refused: %s", reasons)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode,
                       _properties: object) -> None:
        self._generation += 1
        self.connected.clear()
        self.subscribed.clear()
        self.sight.linked(False)
        if not self._stop.is_set():
            self.link.lost(f"{reason}; reconnecting, unacknowledged messages come again")

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self._on_publish(message.topic, bytes(message.payload), message.mid, message.qos, bool(message.retain))

    def _on_publish(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool = False) -> None:
        if not retain and retention.is_live(topic):
            return  # a stream's frame that came during a live sweep (QoS 0: nothing to acknowledge)
        self._inbox.append(Received(topic, payload, dt.datetime.now(dt.UTC), mid, qos, self._generation, retain))
        if not self._arrived.is_set():
            self._arrived.set()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (persistent session) and start paho's network thread."""
        broker = self.config.broker
        properties: Properties = session_properties()
        properties.ReceiveMaximum = self.config.ingest.receive_maximum
        assert properties.packetType == PacketTypes.CONNECT
        self.client.connect_async(broker.host, broker.port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Write batches until stop(); then disconnect, leaving unacknowledged messages to the broker."""
        self.start()
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
            self.client.disconnect()
            self.client.loop_stop()
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
        waiting = self._waiting
        if not waiting and not self._inbox and not self._arrived.wait(ingest.batch_interval_s):
            return []
        self._arrived.clear()
        inbox = self._inbox
        while inbox:
            waiting.put(inbox.popleft())
        return waiting.take(ingest.batch_size, ingest.batch_max_bytes)

    def _write_and_ack(self, batch: list[Received]) -> None:
        self.totals.received += len(batch)
        result = self._store(batch)
        if result is None:
            return
        generation = self._generation
        ack_all(self.client, [item.mid for item in batch if item.qos == 1 and item.generation == generation])
        for item in batch:
            if item.qos == 2 and item.generation == generation:
                self.client.ack(item.mid, item.qos)
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
            self.client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE)
            self.totals.confirmations += 1

    def _clear_retained(self, result: BatchResult) -> None:
        """Delete the retained messages this committed batch refused: an empty retained message on each topic.

        After the commit, so the broker drops a message only once the database holds it (stored or in
        quarantine). Not connected: paho sends it on the next connection; lost, the message is still
        retained and comes again, flagged, at the next subscription, and is cleared then (retention.py).
        """
        for topic in sorted(result.clear_retained):
            try:
                self.client.publish(topic, b"", qos=QOS_AT_LEAST_ONCE, retain=True)
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
        if self.live_sweep is not None and self.connected.is_set():
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
        assert self.live_sweep is not None
        self.live_sweep.run_if_due(now)

    def _guarded(self, what: str, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception as error:
            if is_unavailable(error):
                self._unwritable(error)  # one line for the whole outage, not a traceback per timer tick
            else:
                log.exception("%s failed; retrying at the next interval", what)
