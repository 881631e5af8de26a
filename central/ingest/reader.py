"""An MQTT client that reads the broker's stream in 64 KiB pieces and hands PUBLISH packets over lean."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.matcher import MQTTMatcher

# paho 2.x reads each packet with 2-4 recv calls (type byte, length bytes one by one, body), goes back
# to select() after every packet, and builds a Properties object, an MQTTMessage and a debug-log line
# per PUBLISH: at thousands of reports a second that was ~35% of the ingest's CPU. The overrides below
# touch paho internals, so they are only used when every one of them exists; otherwise the client
# behaves exactly as paho's own.
SUPPORTED = all(hasattr(mqtt.Client, name) for name in ("_sock_recv", "_packet_read", "_loop_rc_handle"))

CHUNK = 65536
# Fresh socket reads per loop_read before paho's loop gets to write (our PUBACKs) and ping again.
MAX_FRESH_READS = 64

PUBLISH = 0x30
# topic, payload, packet id (0 for QoS 0), QoS, retain flag
PublishHandler = Callable[[str, bytes, int, int, bool], None]


def read_varint(data: bytes | bytearray, index: int, end: int) -> tuple[int, int] | None:
    """The MQTT variable byte integer at ``index``: (value, the index after it); None if cut off by ``end``
    or malformed (more than four bytes)."""
    value = shift = 0
    for position in range(index, min(index + 4, end)):
        byte = data[position]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position + 1
        shift += 7
    return None


class _Matcher(MQTTMatcher):
    """paho's per-topic callback registry, answering at once when nothing is registered (our case)."""

    def iter_match(self, topic: str) -> Any:
        # paho asks for every message, splitting the topic and walking a generator: ~4% of our CPU.
        root = getattr(self, "_root", None)
        if root is not None and getattr(root, "_children", None) == {} and getattr(root, "_content", 0) is None:
            return iter(())
        return super().iter_match(topic)


class BufferedReadClient(mqtt.Client):
    """paho's Client, reading many packets per TLS read and per select().

    Set ``on_publish_received`` (with ``manual_ack_set(True)``) to get QoS 0 and 1 PUBLISH packets
    that arrive whole in a read straight from the buffer, without paho's per-message objects; the
    caller acknowledges them with ``ack()`` as usual. Every other packet (CONNACK, SUBACK, PUBACK,
    QoS 2, one cut across reads) goes through paho, whose ``on_message`` must hand over the same way.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scc_supported = SUPPORTED and all(
            hasattr(self, name) for name in ("_sock", "_in_packet", "_protocol", "_manual_ack")
        )
        self._scc_buffer = b""
        self._scc_offset = 0
        self._scc_fresh_reads = 0
        self.on_publish_received: PublishHandler | None = None
        if type(getattr(self, "_on_message_filtered", None)) is MQTTMatcher:
            self._on_message_filtered = _Matcher()  # still empty: replacing it loses nothing

    def reconnect(self) -> mqtt.MQTTErrorCode:
        # Bytes left from the old connection belong to its stream, never to the new one.
        self._scc_buffer, self._scc_offset = b"", 0
        return super().reconnect()

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._scc_supported:
            return super()._sock_recv(bufsize)
        buffer, offset = self._scc_buffer, self._scc_offset
        if offset >= len(buffer):
            if self._scc_fresh_reads >= MAX_FRESH_READS:
                # Enough for this loop_read: paho keeps a packet cut here in its own state, the rest
                # stays in the socket where select() and pending() see it, and our acks and pings go out.
                raise BlockingIOError
            buffer = self._fill()
            if not buffer:
                return buffer
            offset = 0
            self._scc_fresh_reads += 1
        chunk = buffer[offset : offset + bufsize]
        self._scc_buffer, self._scc_offset = buffer, offset + len(chunk)
        return chunk

    def _fill(self) -> bytes:
        """What the socket has, up to CHUNK: BlockingIOError when nothing, b"" when closed."""
        # A TLS read returns one record, and Mosquitto sends one record per PUBLISH: keep reading
        # while records are there, so the packets after the first can be handed over together.
        first = super()._sock_recv(CHUNK)
        pieces, size = [first], len(first)
        while first and size < CHUNK:
            try:
                piece = super()._sock_recv(CHUNK - size)
            except OSError:  # BlockingIOError (no more for now) or a failure the next read reports
                break
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        return first if len(pieces) == 1 else b"".join(pieces)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        if not self._scc_supported:
            return super().loop_read(max_packets)
        self._scc_fresh_reads = 0
        while True:
            if self._sock is None:
                return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN:
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
            # paho has just finished a packet, so the buffer starts at a packet boundary.
            if self.on_publish_received is not None and self._manual_ack:
                self._hand_over_publishes()
            # Never leave bytes in our buffer: select() cannot see them, the loop would sleep on them.
            if self._scc_offset >= len(self._scc_buffer) and self._scc_fresh_reads >= MAX_FRESH_READS:
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _hand_over_publishes(self) -> None:
        """Pass each whole QoS 0/1 PUBLISH at the front of the buffer to ``on_publish_received``.

        Stops at the first packet that is not one, or is cut off, or is odd (an empty topic, which
        only a topic alias we never allow would give; a topic that is not UTF-8): paho reads it next.
        """
        handler = self.on_publish_received
        assert handler is not None
        buffer, offset, end = self._scc_buffer, self._scc_offset, len(self._scc_buffer)
        try:
            # Malformed or cut short: paho reads it from ``offset`` and says what is wrong.
            with contextlib.suppress(IndexError, UnicodeDecodeError):
                while offset < end:
                    header = buffer[offset]
                    qos = (header >> 1) & 0x03
                    if header & 0xF0 != PUBLISH or qos >= 2:  # QoS 2 needs paho's handshake; 3 is malformed
                        break
                    remaining = read_varint(buffer, offset + 1, end)
                    if remaining is None:
                        break
                    length, index = remaining
                    packet_end = index + length
                    if packet_end > end:
                        break
                    topic_length = (buffer[index] << 8) | buffer[index + 1]
                    position = index + 2 + topic_length
                    if topic_length == 0 or position > packet_end:
                        break
                    topic = buffer[index + 2 : position].decode()
                    mid = 0
                    if qos:
                        mid = (buffer[position] << 8) | buffer[position + 1]
                        position += 2
                    if self._protocol == mqtt.MQTTv5:
                        # Properties: a varint length, then that many bytes we have no use for.
                        properties = read_varint(buffer, position, packet_end)
                        if properties is None:
                            break
                        position = properties[1] + properties[0]
                    if position > packet_end:
                        break
                    # The retain flag is bit 0 of the fixed header (retention.py audits it).
                    handler(topic, buffer[position:packet_end], mid, qos, bool(header & 0x01))
                    offset = packet_end
        finally:
            self._scc_offset = offset
