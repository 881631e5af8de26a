"""The agent's MQTT v5 link: retained birth and last will, the outbox pumped in seq order, PUBACK deletes.

paho's network thread only ever hands events to the asyncio loop; the outbox and the mid->seq map
are touched on the loop thread alone. That also avoids a lock-order trap: paho calls on_publish
while holding its own outgoing-message mutex, which ``publish()`` takes too.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent import __version__
from edge_agent.config import AgentConfig
from edge_agent.outbox import Outbox
from shared import topics
from shared.codec import DecodeError, decode, encode
from shared.messages import AgentBirth, AgentOffline, Command, utc_now
from shared.mqtt import QOS_AT_LEAST_ONCE, TlsFiles, Will, connect_persistent, make_client, reason_is_success

log = logging.getLogger(__name__)

CommandHandler = Callable[[Command], Coroutine[Any, Any, None]]


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
        self._cameras_configured = cameras_configured
        self._websites_configured = websites_configured
        self.started_at = utc_now()
        self.connected = asyncio.Event()
        self.acks = 0
        self.rejected = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._inflight: dict[int, tuple[int, str]] = {}  # mid -> (seq, topic)
        self._handed_up_to = 0  # highest seq handed to paho by this process
        self._pump_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        tls = TlsFiles(config.tls.ca_file, config.tls.cert_file, config.tls.key_file)
        self.client = make_client(self.agent, tls, will=self._will("connection_lost"), logger=log)
        self.client.max_inflight_messages_set(config.outbox.max_inflight)
        self.client.reconnect_delay_set(config.broker.reconnect_min_s,
                                        max(config.broker.reconnect_min_s, config.broker.reconnect_max_s))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    # --- lifecycle ---------------------------------------------------------------------------

    def _will(self, reason: Literal["connection_lost", "shutdown"]) -> Will:
        # A fresh msg_id per connection: central deduplicates on msg_id, so reusing one would hide
        # the second outage.
        seq, msg_id = self.outbox.allocate()
        message = AgentOffline(agent=self.agent, seq=seq, msg_id=msg_id, ts=utc_now(), reason=reason)
        return Will(topics.availability(self.agent), encode(message), retain=True)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        broker = self.config.broker
        connect_persistent(self.client, broker.host, broker.port, keepalive=broker.keepalive_s,
                           expiry_s=broker.session_expiry_s)
        self.client.loop_start()
        self._pump_task = asyncio.create_task(self._pump(), name="outbox-pump")

    async def stop(self, timeout: float = 3.0) -> None:
        """Publish the retained 'shutdown' availability (waiting briefly for its PUBACK) and disconnect."""
        if self._pump_task is not None:
            self._pump_task.cancel()
        if self.client.is_connected():
            seq, msg_id = self.outbox.allocate()
            goodbye = AgentOffline(agent=self.agent, seq=seq, msg_id=msg_id, ts=utc_now(), reason="shutdown")
            info = self.client.publish(topics.availability(self.agent), encode(goodbye),
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

    def _on_connect(self, client: mqtt.Client, _userdata: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, _properties: object) -> None:
        if not reason_is_success(reason):
            log.error("broker %s:%s refused the connection: %s", self.config.broker.host,
                      self.config.broker.port, reason)
            return
        log.info("connected to broker %s:%s (session present: %s)", self.config.broker.host,
                 self.config.broker.port, flags.session_present)
        client.subscribe(topics.command_subscription(self.agent), qos=QOS_AT_LEAST_ONCE)
        seq, msg_id = self.outbox.allocate()
        birth = AgentBirth(
            agent=self.agent, seq=seq, msg_id=msg_id, ts=utc_now(), agent_version=__version__,
            hostname=socket.gethostname()[:256], started_at=self.started_at,
            cameras_configured=self._cameras_configured(), websites_configured=self._websites_configured(),
        )
        client.publish(topics.availability(self.agent), encode(birth), qos=QOS_AT_LEAST_ONCE, retain=True)
        self._call(self._connected)

    def _on_disconnect(self, client: mqtt.Client, _userdata: object, _flags: object,
                       reason: ReasonCode, _properties: object) -> None:
        log.warning("disconnected from broker: %s; reports wait in the outbox", reason)
        will = self._will("connection_lost")
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self._call(self.connected.clear)

    def _on_publish(self, _client: mqtt.Client, _userdata: object, mid: int, reason: ReasonCode,
                    _properties: object) -> None:
        self._call(self._acknowledged, mid, reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self._call(self._received, message.topic, bytes(message.payload))

    # --- loop side ---------------------------------------------------------------------------

    def _connected(self) -> None:
        self.connected.set()
        self._wake.set()

    def _acknowledged(self, mid: int, reason: ReasonCode) -> None:
        entry = self._inflight.pop(mid, None)
        if entry is None:
            return  # birth or goodbye: published directly, not from the outbox
        seq, topic = entry
        if reason_is_success(reason):
            self.outbox.ack(seq)
            self.acks += 1
        else:
            # Retrying an ACL refusal would block the queue forever: log it loudly and move on.
            log.error("broker refused report seq %d on %s: %s (0x%02x); dropping it", seq, topic, reason,
                      getattr(reason, "value", 0))
            self.outbox.reject(seq)
            self.rejected += 1
        self._wake.set()

    def _received(self, topic: str, payload: bytes) -> None:
        decoded = decode(topic, payload)
        if isinstance(decoded, DecodeError):
            log.warning("ignoring command: %s", decoded)
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

    async def _pump(self) -> None:
        window = self.config.outbox.max_inflight
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.connected.is_set() and len(self._inflight) < window:
                batch = self.outbox.pending(after_seq=self._handed_up_to, limit=window - len(self._inflight))
                if not batch:
                    break
                for report in batch:
                    info = self.client.publish(report.topic, report.payload, qos=QOS_AT_LEAST_ONCE,
                                               retain=report.retain)
                    # Queued by paho even when the connection just dropped: it resends on reconnect.
                    self._inflight[info.mid] = (report.seq, report.topic)
                    self._handed_up_to = report.seq
