"""The agent's MQTT v5 link: retained birth and last will, the outbox pumped in seq order, confirmations.

A report leaves the outbox only when central confirms it stored it (``reports_stored`` on
``scc/v1/confirmations/<agent>``): the broker's PUBACK only marks it sent. A PUBACK with reason 0x10
(no matching subscribers: central's ingest is not subscribed, e.g. the broker restarted before it)
is not delivery either: the report waits and is sent again after a backoff. What stays unconfirmed is
sent again by :class:`~edge_agent.confirmations.ResendClock`'s rounds.

paho's network thread only ever hands events to the asyncio loop; the outbox and the mid->seq map
are touched on the loop thread alone. That also avoids a lock-order trap: paho calls on_publish
while holding its own outgoing-message mutex, which ``publish()`` takes too. The birth and last
will built in paho's callbacks take ids allocated ahead (:mod:`edge_agent.availability`), and every
callback is guarded: paho 2 re-raises a callback's exception, which would end its network thread
and leave the agent disconnected for good.

A PUBACK refusal drops the report only when resending it can never succeed (not authorized, invalid
topic or payload, too large); any other refusal (unspecified, implementation-specific, quota
exceeded: a broker whose own storage is full) keeps it, and the queue is resent after a backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.availability import Availability
from edge_agent.config import AgentConfig
from edge_agent.confirmations import Confirmations
from edge_agent.outbox import Outbox, OutboxUnavailable
from shared import topics
from shared.codec import DecodeError, decode
from shared.messages import Command, ReportsStored
from shared.mqtt import (
    QOS_AT_LEAST_ONCE,
    LinkLog,
    TlsFiles,
    connect_persistent,
    make_client,
    reason_is_success,
)

log = logging.getLogger(__name__)

CommandHandler = Callable[[Command], Coroutine[Any, Any, None]]

# PUBACK reasons after which the same bytes can never be accepted: retrying would block the queue.
# 0x95 (packet too large) is not among them because MQTT 5 never puts it in a PUBACK: the broker
# disconnects instead, which is why the outbox refuses oversized reports before storing them.
PERMANENT_REFUSALS = frozenset({0x87, 0x90, 0x99})
# A success code for MQTT, not for us: the broker accepted the report but nobody subscribed received it.
NO_MATCHING_SUBSCRIBERS = 0x10
RETRY_MIN_S = 1.0
RETRY_MAX_S = 60.0


def is_permanent_refusal(reason: object) -> bool:
    """True if a PUBACK reason means the report must be dropped rather than resent."""
    value = getattr(reason, "value", reason)
    return isinstance(value, int) and value in PERMANENT_REFUSALS


class Publisher:
    """Owns the paho client; ``wake()`` after adding to the outbox, ``stop()`` for a clean goodbye."""

    def __init__(
        self,
        config: AgentConfig,
        outbox: Outbox,
        *,
        on_command: CommandHandler | None = None,
        cameras_configured: Callable[[], int] = lambda: 0,
        websites_configured: Callable[[], int] = lambda: 0,
    ) -> None:
        self.config = config
        self.agent = config.agent.name
        self.outbox = outbox
        self.on_command = on_command
        self.availability = Availability(self.agent, outbox, cameras_configured, websites_configured)
        self.connected = asyncio.Event()
        self.acks = 0
        self.rejected = 0
        self._confirmations_topic = topics.confirmations(self.agent)
        self.confirmations = Confirmations(self.agent, outbox, config.outbox.confirm_timeout_s,
                                           config.outbox.confirm_timeout_max_s, self._resend_from)
        self._unheard_since: float | None = None  # loop time of the first 0x10 of a run of them
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._inflight: dict[int, tuple[int, str]] = {}  # mid -> (seq, topic)
        self._handed_up_to = 0  # highest seq handed to paho by this process
        self._pump_task: asyncio.Task[None] | None = None
        self._resend_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._retry_s = 0.0  # current backoff after a transient refusal or a failed delete; 0 = none
        self._paused_until = 0.0  # loop.time() before which nothing is sent
        self._retry_handle: asyncio.TimerHandle | None = None
        self.callback_errors = 0
        tls = TlsFiles(config.tls.ca_file, config.tls.cert_file, config.tls.key_file)
        self.client = make_client(tls, will=self.availability.will("connection_lost"), logger=log)
        self.link = LinkLog(log, f"{config.broker.host}:{config.broker.port}")
        self.link.watch(self.client)
        self.client.max_inflight_messages_set(config.outbox.max_inflight)
        self.client.reconnect_delay_set(config.broker.reconnect_min_s,
                                        max(config.broker.reconnect_min_s, config.broker.reconnect_max_s))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    # --- lifecycle ---------------------------------------------------------------------------

    def network_alive(self) -> bool:
        """paho's network thread is running (connected, or retrying to connect)."""
        # paho keeps the thread private; it is the only sign that reconnecting still happens.
        thread: threading.Thread | None = getattr(self.client, "_thread", None)
        return thread is not None and thread.is_alive()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        broker = self.config.broker
        connect_persistent(self.client, broker.host, broker.port, keepalive=broker.keepalive_s,
                           expiry_s=broker.session_expiry_s)
        self.client.loop_start()
        self._pump_task = asyncio.create_task(self._pump(), name="outbox-pump")
        self._resend_task = asyncio.create_task(self.confirmations.resend_rounds(), name="outbox-resend")

    async def stop(self, timeout: float = 3.0) -> None:
        """Publish the retained 'shutdown' availability (waiting briefly for its PUBACK) and disconnect."""
        for task in (self._pump_task, self._resend_task):
            if task is not None:
                task.cancel()
        if self._retry_handle is not None:
            self._retry_handle.cancel()
        if self.client.is_connected():
            info = self.client.publish(self.availability.topic, self.availability.goodbye(),
                                       qos=QOS_AT_LEAST_ONCE, retain=True)
            try:
                await asyncio.wait_for(asyncio.to_thread(info.wait_for_publish, timeout), timeout + 0.5)
            except (TimeoutError, RuntimeError, ValueError):
                log.warning("no acknowledgement for the shutdown notice; the last will covers it")
            self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    def wake(self) -> None:
        """New reports are in the outbox."""
        self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    # --- paho callbacks (network thread): hand everything to the loop ------------------------

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _guarded(self, name: str, callback: Callable[[], None]) -> None:
        # An exception escaping a paho callback ends paho's network thread (paho 2 re-raises):
        # log it and keep the link alive instead.
        try:
            callback()
        except Exception:
            self.callback_errors += 1
            log.exception("MQTT %s handler failed; the connection carries on", name)

    def _on_connect(self, client: mqtt.Client, _userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, _properties: object) -> None:
        self._guarded("connect", lambda: self._handle_connect(client, flags, reason))

    def _handle_connect(self, client: mqtt.Client, flags: mqtt.ConnectFlags, reason: ReasonCode) -> None:
        if not reason_is_success(reason):
            self.link.refused(reason)
            return
        self.link.connected(flags.session_present)
        # Every connect: a broker that lost its state (kill -9 before an autosave) forgets subscriptions.
        client.subscribe([(topics.command_subscription(self.agent), QOS_AT_LEAST_ONCE),
                          (self._confirmations_topic, QOS_AT_LEAST_ONCE)])
        client.publish(self.availability.topic, self.availability.birth(), qos=QOS_AT_LEAST_ONCE, retain=True)
        self._call(self._connected)

    def _on_disconnect(self, client: mqtt.Client, _userdata: object, _flags: object,
                       reason: ReasonCode, _properties: object) -> None:
        self._guarded("disconnect", lambda: self._handle_disconnect(client, reason))

    def _handle_disconnect(self, client: mqtt.Client, reason: ReasonCode) -> None:
        self.link.lost(f"{reason}; reports wait in the outbox")
        self._call(self._disconnected)
        will = self.availability.will("connection_lost")
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self._call(self.availability.refill)

    def _on_publish(self, _client: mqtt.Client, _userdata: object, mid: int, reason: ReasonCode,
                    _properties: object) -> None:
        self._guarded("PUBACK", lambda: self._call(self._acknowledged, mid, reason))

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self._guarded("message", lambda: self._call(self._received, message.topic, bytes(message.payload)))

    # --- loop side ---------------------------------------------------------------------------

    def _connected(self) -> None:
        self.availability.refill()
        self.confirmations.clock.connected(asyncio.get_running_loop().time())
        self.connected.set()
        self._wake.set()

    def _disconnected(self) -> None:
        self.connected.clear()
        self.confirmations.clock.disconnected()

    def _resend_from(self, seq: int) -> None:
        """Reports from ``seq`` on went back to waiting: let the pump send them again."""
        self._handed_up_to = min(self._handed_up_to, seq - 1)
        self._wake.set()

    def _retry_later(self, seq: int) -> None:
        """Resend from ``seq`` on after a growing pause: the broker or our disk is in trouble."""
        # Rewinding resends what is stored from there on; reports still in flight are skipped by the
        # pump, and central deduplicates on msg_id should one be delivered twice.
        self._handed_up_to = min(self._handed_up_to, seq - 1)
        loop = asyncio.get_running_loop()
        if loop.time() < self._paused_until:
            return  # the other PUBACKs of the same round: one round doubles the pause once
        self._retry_s = min(max(self._retry_s * 2, RETRY_MIN_S), RETRY_MAX_S)
        self._paused_until = loop.time() + self._retry_s
        if self._retry_handle is not None:
            self._retry_handle.cancel()
        self._retry_handle = loop.call_later(self._retry_s, self._wake.set)

    def _acknowledged(self, mid: int, reason: ReasonCode) -> None:
        entry = self._inflight.pop(mid, None)
        if entry is None:
            return  # birth or goodbye: published directly, not from the outbox
        seq, topic = entry
        code = getattr(reason, "value", reason)
        try:
            if code == NO_MATCHING_SUBSCRIBERS:
                self._unheard(seq, topic)
            elif reason_is_success(reason):
                self.outbox.mark_sent(seq)
                self.acks += 1
                self._retry_s = 0.0
                if self._unheard_since is not None:
                    log.info("central's ingest is subscribed again after %.0f s; sending the reports kept meanwhile",
                             asyncio.get_running_loop().time() - self._unheard_since)
                    self._unheard_since = None
            elif is_permanent_refusal(reason):
                # Retrying these would block the queue forever: log it loudly and move on.
                log.error("broker refused report seq %d on %s: %s (0x%02x); dropping it", seq, topic, reason, code)
                self.outbox.reject(seq)
                self.rejected += 1
            else:
                self._retry_later(seq)
                log.warning("broker could not take report seq %d on %s now: %s (0x%02x); kept in the outbox, "
                            "resending in %.0f s", seq, topic, reason, code, self._retry_s)
        except OutboxUnavailable:
            # The outbox logged why (with its path); the report is still stored, so send it again
            # once the pause is over rather than only after a restart.
            self._retry_later(seq)
        self._wake.set()

    def _unheard(self, seq: int, topic: str) -> None:
        """PUBACK 0x10: the broker has the report but no subscriber does; keep it and send it again later."""
        self._retry_later(seq)
        if self._unheard_since is None:
            self._unheard_since = asyncio.get_running_loop().time()
            log.warning("broker accepted report seq %d on %s but no subscriber received it (0x10: central's ingest "
                        "is not subscribed); keeping the reports, sending again with a growing pause", seq, topic)

    def _received(self, topic: str, payload: bytes) -> None:
        decoded = decode(topic, payload)
        if isinstance(decoded, DecodeError):
            log.warning("ignoring message from central: %s", decoded)
            return
        if isinstance(decoded.message, ReportsStored):
            self.confirmations.received(decoded.message)
            return
        command = decoded.message
        if not isinstance(command, Command) or command.agent != self.agent:
            log.warning("ignoring %s on %s: not a command for this agent", type(command).__name__, topic)
            return
        if self.on_command is None:
            return
        task = asyncio.create_task(self.on_command(command), name=f"command-{command.command_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def publish_live(self, topic: str, payload: bytes) -> bool:
        """A live frame, QoS 0, not retained, not through the outbox; False (dropped) while disconnected.

        Called from live-view threads: paho's publish is thread-safe, and a QoS 0 publish never enters
        ``_inflight`` (its on_publish finds no entry and returns).
        """
        if not self.connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=0, retain=False)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._send_pending()
            except Exception:
                # The pump is the only sender: it must outlive whatever went wrong this round.
                self._retry_later(self._handed_up_to + 1)
                log.exception("sending the outbox failed; trying again in %.0f s", self._retry_s)

    def _send_pending(self) -> None:
        window = self.config.outbox.max_inflight
        if asyncio.get_running_loop().time() < self._paused_until:
            return  # the retry timer wakes the pump
        while self.connected.is_set() and len(self._inflight) < window:
            batch = self.outbox.pending(after_seq=self._handed_up_to, limit=window - len(self._inflight))
            if not batch:
                break
            in_flight = {seq for seq, _topic in self._inflight.values()}
            for report in batch:
                self._handed_up_to = report.seq
                if report.seq in in_flight:
                    continue  # after a rewind: still awaiting its PUBACK
                info = self.client.publish(report.topic, report.payload, qos=QOS_AT_LEAST_ONCE,
                                           retain=report.retain)
                # Queued by paho even when the connection just dropped: it resends on reconnect.
                self._inflight[info.mid] = (report.seq, report.topic)
