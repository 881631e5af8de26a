"""The ingest worker's side of the broker: its persistent session, the shared subscription, an inbox.

paho's network thread runs the callbacks here and only hands messages over: each goes into the inbox
stamped with its connection's generation. The worker's thread takes them into batches and, after a
batch commits, acknowledges (:meth:`Subscription.ack`) only those of the current connection: after a
reconnect the same packet id names another message, and acks queued while paho reconnects would go out
on the new connection. The subscription is made again on every connect, whatever the broker restored;
once acknowledged, the worker sees again (``Sight``).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import cast

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.config import CentralConfig
from central.ingest import retention
from central.ingest.acks import ack_all
from central.ingest.fair import FairQueue
from central.ingest.reader import BufferedReadClient
from central.ingest.sight import Sight
from central.ingest.store import Received
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


def shared_subscription(group: str) -> str:
    return f"$share/{group}/{topics.ALL_AGENT_TOPICS}"


def worker_tls(config: CentralConfig, worker: int) -> TlsFiles:
    """Worker ``worker``'s certificate: its name is its client id and so its own persistent session."""
    tls = config.broker.tls
    return tls if worker == 0 else tls.sibling(ingest_worker_purpose(worker))


class Subscription:
    """One worker's MQTT client (manual acknowledgements) and the inbox its network thread fills."""

    def __init__(self, config: CentralConfig, worker: int, sight: Sight) -> None:
        self.config = config
        self.sight = sight
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        # The network thread appends and sets _arrived only when it was clear; the worker clears it
        # before taking what is there, so a message appended after that sets it again.
        self._inbox: collections.deque[Received] = collections.deque()
        self._arrived = threading.Event()
        self._generation = 0  # bumped on every connect and disconnect
        self._ready_sent = False
        self._closing = False
        self.client = cast(BufferedReadClient, make_client(worker_tls(config, worker), logger=log,
                                                            client_class=BufferedReadClient,
                                                            reconnect_max_s=CENTRAL_RECONNECT_MAX_S))
        self.client.manual_ack_set(True)
        self.link = LinkLog(log, f"{config.broker.host}:{config.broker.port}")
        self.link.watch(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_publish_received = self._on_publish
        # Worker 0 alone sweeps the live-view tree for retained frames (retention.py): one is enough.
        self.live_sweep = retention.LiveSweep(self.client) if worker == 0 else None

    # --- the worker's thread ------------------------------------------------------------------

    def start(self) -> None:
        """Connect (persistent session) and start paho's network thread."""
        broker = self.config.broker
        properties: Properties = session_properties()
        properties.ReceiveMaximum = self.config.ingest.receive_maximum
        assert properties.packetType == PacketTypes.CONNECT
        self.client.connect_async(broker.host, broker.port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()

    def take(self, waiting: FairQueue, timeout: float) -> bool:
        """Move what has arrived into ``waiting``, first waiting up to ``timeout`` s when there is nothing."""
        if not waiting and not self._inbox and not self._arrived.wait(timeout):
            return False
        self._arrived.clear()
        inbox = self._inbox
        while inbox:
            waiting.put(inbox.popleft())
        return True

    def ack(self, batch: Sequence[Received]) -> None:
        """Acknowledge a committed batch's messages that came on the current connection."""
        generation = self._generation
        ack_all(self.client, [item.mid for item in batch if item.qos == 1 and item.generation == generation])
        for item in batch:
            if item.qos == 2 and item.generation == generation:
                self.client.ack(item.mid, item.qos)

    def close(self) -> None:
        """Disconnect, leaving unacknowledged messages to the broker."""
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

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
        if not self._closing:
            self.link.lost(f"{reason}; reconnecting, unacknowledged messages come again")

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self._on_publish(message.topic, bytes(message.payload), message.mid, message.qos, bool(message.retain))

    def _on_publish(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool = False) -> None:
        if not retain and retention.is_live(topic):
            return  # a stream's frame that came during a live sweep (QoS 0: nothing to acknowledge)
        self._inbox.append(Received(topic, payload, dt.datetime.now(dt.UTC), mid, qos, self._generation, retain))
        if not self._arrived.is_set():
            self._arrived.set()
