"""An MQTT client that reads the broker's stream in 64 KiB pieces instead of paho's 1-5 byte reads."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.matcher import MQTTMatcher

# paho 2.x reads each packet with 2-4 recv calls (type byte, length bytes one by one, body) and goes
# back to select() after every packet: at thousands of reports a second that per-call overhead was
# ~30% of the ingest's CPU. The overrides below touch paho internals, so they are only used when
# every one of them exists; otherwise the client behaves exactly as paho's own.
SUPPORTED = all(hasattr(mqtt.Client, name) for name in ("_sock_recv", "_packet_read", "_loop_rc_handle"))

CHUNK = 65536
# Fresh socket reads per loop_read before paho's loop gets to write (our PUBACKs) and ping again.
MAX_FRESH_READS = 64


class _Matcher(MQTTMatcher):
    """paho's per-topic callback registry, answering at once when nothing is registered (our case)."""

    def iter_match(self, topic: str) -> Any:
        # paho asks for every message, splitting the topic and walking a generator: ~4% of our CPU.
        root = getattr(self, "_root", None)
        if root is not None and getattr(root, "_children", None) == {} and getattr(root, "_content", 0) is None:
            return iter(())
        return super().iter_match(topic)


class BufferedReadClient(mqtt.Client):
    """paho's Client, reading many packets per TLS read and per select()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scc_supported = SUPPORTED and hasattr(self, "_sock")
        self._scc_buffer = b""
        self._scc_offset = 0
        self._scc_fresh_reads = 0
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
            buffer = super()._sock_recv(CHUNK)  # BlockingIOError when there is nothing; b"" when closed
            if not buffer:
                return buffer
            offset = 0
            self._scc_fresh_reads += 1
        chunk = buffer[offset : offset + bufsize]
        self._scc_buffer, self._scc_offset = buffer, offset + len(chunk)
        return chunk

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
            # Never leave bytes in our buffer: select() cannot see them, the loop would sleep on them.
            if self._scc_offset >= len(self._scc_buffer) and self._scc_fresh_reads >= MAX_FRESH_READS:
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
