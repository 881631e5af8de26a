"""The live-view relay: one process holding one upstream per camera, fanned out to every viewer.

Web workers never subscribe to MQTT themselves (no MQTT in the app factory, and a certificate is one
connection at the broker): a browser's live view is a web request that connects to this relay's Unix
socket (central/live_view/wire.py) and copies what it gets. The relay, with its own certificate
(``central-live``), subscribes to ``scc/v1/live/<agent>/<camera>`` while at least one viewer watches it,
holds one lease on the agent (``live_start`` renewed every third of ``[live_view] lease_s``, carrying
central's bandwidth budget for that agent's link, ``[live_view] agent_kbps``), and sends
``live_stop`` when the last viewer leaves. A viewer closing its socket is a viewer leaving; an agent
that sends nothing within ``start_timeout_s`` is reported to the viewers as ``live_timeout``.

A still (``snapshot_now``) rides the same topic: the relay sends the command and hands the next message
marked ``still`` to every viewer waiting for one of that camera; stills never touch a live channel.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

from central.config import CentralConfig
from central.live_view import wire
from shared import codec, sdnotify, topics
from shared.codec import Decoded
from shared.messages import Command, CommandName, LiveFrame, LiveState, new_message_id, utc_now
from shared.mqtt import (
    CENTRAL_RECONNECT_MAX_S,
    LIVE_PURPOSE,
    connect_persistent,
    make_client,
    reason_is_success,
)

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (agent, camera id)


@dataclass(slots=True)
class _Channel:
    started: float
    viewers: int = 0
    count: int = 0  # messages received; a viewer waits for this to grow
    latest: bytes = b""
    ended: bool = False


@dataclass(slots=True)
class _Stills:
    waiting: int = 0
    count: int = 0
    latest: bytes = b""


@dataclass(slots=True)
class Relay:
    """Channels per camera and the MQTT side; the socket server calls :meth:`serve_viewer`."""

    client: mqtt.Client
    lease_id: str
    lease_s: int
    start_timeout_s: float
    # Central's bandwidth budget of an agent's link ([live_view] agent_kbps / agents_kbps), sent with live_start.
    budget_kbps: Callable[[str], int | None] = field(default=lambda _agent: None)
    _channels: dict[Key, _Channel] = field(default_factory=dict)
    _stills: dict[Key, _Stills] = field(default_factory=dict)
    _subscribers: dict[Key, int] = field(default_factory=dict)  # live viewers and still askers per topic
    _condition: threading.Condition = field(default_factory=threading.Condition)
    _seq: int = 0
    upstreams_started: int = 0  # for tests and the benchmark: how many live_start leases were opened

    # --- MQTT side -----------------------------------------------------------------------------

    def on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason: object,
                   _properties: object) -> None:
        if not reason_is_success(reason):
            log.error("the broker refused the live-view relay: %s", reason)
            return
        with self._condition:
            keys = list(self._subscribers)
        for agent, camera_id in keys:
            client.subscribe(topics.live_frames(agent, camera_id), qos=0)

    def on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        decoded = codec.decode(message.topic, bytes(message.payload))
        if not isinstance(decoded, Decoded) or decoded.topic.agent is None or decoded.topic.camera_id is None:
            log.warning("live view: ignoring %s", decoded)
            return
        assert isinstance(decoded.message, LiveFrame)
        key = (decoded.topic.agent, decoded.topic.camera_id)
        with self._condition:
            if decoded.message.still:
                stills = self._stills.get(key)
                if stills is not None:
                    stills.latest = bytes(message.payload)
                    stills.count += 1
                    self._condition.notify_all()
                return
            channel = self._channels.get(key)
            if channel is None or channel.ended:
                return
            channel.latest = bytes(message.payload)
            channel.count += 1
            channel.ended = decoded.message.state is not LiveState.FRAME
            self._condition.notify_all()

    def _command(self, name: CommandName, key: Key) -> None:
        agent, camera_id = key
        with self._condition:
            self._seq += 1
            seq = self._seq
        command = Command(agent=agent, seq=seq, msg_id=new_message_id(), ts=utc_now(), command_id=self.lease_id,
                          name=name, camera_id=camera_id, requested_by="live-view relay",
                          lease_s=self.lease_s if name is CommandName.LIVE_START else None,
                          max_kbps=self.budget_kbps(agent) if name is CommandName.LIVE_START else None)
        if name is CommandName.SNAPSHOT_NOW:
            command = command.model_copy(update={"command_id": f"still-{seq}"})
        self.client.publish(topics.command(agent, name.value), codec.encode(command), qos=1)

    def renew_forever(self, stop: threading.Event) -> None:
        """Renew every watched camera's lease until ``stop``; a third of the lease, so two renewals may be lost."""
        while not stop.wait(self.lease_s / 3):
            with self._condition:
                keys = [key for key, channel in self._channels.items() if not channel.ended]
            for key in keys:
                self._command(CommandName.LIVE_START, key)

    # --- viewers -------------------------------------------------------------------------------

    def _hold(self, key: Key) -> None:
        """Count one more reader of the camera's topic (call under the condition); subscribe for the first."""
        self._subscribers[key] = self._subscribers.get(key, 0) + 1
        if self._subscribers[key] == 1:
            self.client.subscribe(topics.live_frames(*key), qos=0)

    def _release(self, key: Key) -> None:
        """Count one reader fewer (call under the condition); unsubscribe after the last."""
        self._subscribers[key] -= 1
        if self._subscribers[key] == 0:
            del self._subscribers[key]
            self.client.unsubscribe(topics.live_frames(*key))

    def _join(self, key: Key) -> _Channel:
        with self._condition:
            channel = self._channels.get(key)
            if channel is None or (channel.ended and channel.viewers == 0):
                channel = self._channels[key] = _Channel(time.monotonic())
            channel.viewers += 1
            first = channel.viewers == 1 and channel.count == 0
            self._hold(key)
        if first:
            self.upstreams_started += 1
            self._command(CommandName.LIVE_START, key)
        return channel

    def _leave(self, key: Key, channel: _Channel) -> None:
        with self._condition:
            channel.viewers -= 1
            last = channel.viewers == 0 and self._channels.get(key) is channel
            if last:
                del self._channels[key]
            self._release(key)
        if last and not channel.ended:
            self._command(CommandName.LIVE_STOP, key)

    def serve_viewer(self, connection: socket.socket) -> None:
        """Read the request, then send the camera's messages until its end or the viewer leaves."""
        connection.settimeout(5)
        line = connection.makefile("rb").readline(wire.MAX_REQUEST_BYTES)
        try:
            agent, camera_id, still = wire.parse_request(line)
        except ValueError as error:
            log.warning("live view: bad request: %s", error)
            return
        key = (agent, camera_id)
        if still:
            with contextlib.suppress(OSError):  # the viewer went away: nothing to tell
                connection.sendall(wire.frame(self._still(key)))
            return
        channel = self._join(key)
        try:
            self._send(connection, key, channel)
        except OSError:
            pass  # the viewer went away mid-write: leaving is all there is to do
        finally:
            self._leave(key, channel)

    def _still(self, key: Key) -> bytes:
        """Ask the agent for one still and wait for the next one of that camera, or time out."""
        with self._condition:
            stills = self._stills.setdefault(key, _Stills())
            stills.waiting += 1
            seen = stills.count
            self._hold(key)
        try:
            self._command(CommandName.SNAPSHOT_NOW, key)
            with self._condition:
                if self._condition.wait_for(lambda: stills.count > seen, self.start_timeout_s):
                    return stills.latest
            return self._timeout(key, still=True)
        finally:
            with self._condition:
                stills.waiting -= 1
                if stills.waiting == 0 and self._stills.get(key) is stills:
                    del self._stills[key]
                self._release(key)

    def _send(self, connection: socket.socket, key: Key, channel: _Channel) -> None:
        seen = 0
        while True:
            with self._condition:
                self._condition.wait_for(lambda seen=seen: channel.count > seen, 0.5)  # type: ignore[misc]
                count, payload, ended = channel.count, channel.latest, channel.ended
            if count > seen:
                seen = count
                connection.sendall(wire.frame(payload))
                if ended:
                    return
            elif count == 0 and time.monotonic() - channel.started > self.start_timeout_s:
                connection.sendall(wire.frame(self._timeout(key)))
                return
            if _closed(connection):
                return

    def _timeout(self, key: Key, still: bool = False) -> bytes:
        meta = LiveFrame(agent=key[0], seq=0, msg_id=new_message_id(), ts=utc_now(), camera_id=key[1],
                         state=LiveState.FAILED, reason="live_timeout", still=still,
                         message=f"the agent sent nothing within {self.start_timeout_s:g} s (offline or busy)")
        return codec.encode_live(meta)


def _closed(connection: socket.socket) -> bool:
    """True once the viewer closed its end (readable with nothing to read)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        relay: Relay = self.server.relay  # type: ignore[attr-defined]
        relay.serve_viewer(self.request)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    # socketserver's default backlog of 5 refused (EAGAIN) viewers when a wall of 20 tiles opened at once.
    request_queue_size = 128


def lease_id() -> str:
    """This relay's lease name on the agents: stable across renewals and restarts of the same host."""
    return ("relay-" + re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()))[:64]


def serve(config: CentralConfig, stop: threading.Event, ready: threading.Event | None = None) -> int:
    """Run the relay until ``stop``; returns an exit code."""
    settings = config.live_view
    path = settings.socket_path(Path(config.state_dir))
    client = make_client(config.broker.tls.sibling(LIVE_PURPOSE), reconnect_max_s=CENTRAL_RECONNECT_MAX_S)
    relay = Relay(client, lease_id(), settings.lease_s, settings.start_timeout_s, settings.budget_kbps)
    client.on_connect = relay.on_connect
    client.on_message = relay.on_message
    connect_persistent(client, config.broker.host, config.broker.port)
    client.loop_start()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    server = _Server(str(path), _Handler)
    server.relay = relay  # type: ignore[attr-defined]
    path.chmod(0o600)  # only central's own user may watch without the web's checks and audit
    renewer = threading.Thread(target=relay.renew_forever, args=(stop,), name="live-renew", daemon=True)
    renewer.start()
    serving = threading.Thread(target=server.serve_forever, args=(0.5,), name="live-socket", daemon=True)
    serving.start()
    log.info("live-view relay listening on %s", path)
    if ready is not None:
        ready.set()
    sdnotify.notify_ready(f"relaying live views on {path}")
    interval = sdnotify.watchdog_interval()
    while not stop.wait(interval / 2 if interval else 3600):
        if serving.is_alive() and renewer.is_alive():
            sdnotify.notify_watchdog()  # a dead socket or renewal thread: systemd restarts the relay
    sdnotify.notify_stopping("shutting down")
    server.shutdown()
    server.server_close()
    path.unlink(missing_ok=True)
    client.disconnect()
    client.loop_stop()
    return 0
