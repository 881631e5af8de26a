"""The ingest's MQTT reader against a real broker: every PUBLISH handed over intact, acked by its packet id."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.ingest import reader as reader_module
from central.ingest.reader import CHUNK, BufferedReadClient, read_varint
from shared.mqtt import TlsFiles, session_properties, tls_context
from tests.fixtures.broker import AGENT_PALEMBANG, CENTRAL, Pki, TlsBroker

AGENT = AGENT_PALEMBANG


class Collector:
    """Everything the reader hands over, by which path, and each message's (packet id, QoS) to ack."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.payloads: dict[bytes, int] = {}
        self.lean = 0
        self.paho = 0
        self.to_ack: list[tuple[int, int]] = []
        self.retained: set[int] = set()  # indexes of the messages handed over with the retain flag

    def on_publish(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        assert topic.startswith(f"scc/v1/agents/{AGENT}/cameras/test-")
        with self.lock:
            self.lean += 1
            self._keep(payload, mid, qos, retain)

    def on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.paho += 1
            self._keep(bytes(message.payload), message.mid, message.qos, bool(message.retain))

    def _keep(self, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        key = payload[:16]
        self.payloads[key] = self.payloads.get(key, 0) + 1
        assert payload == _payload(int(key.split(b":")[0]))  # intact, including those cut across reads
        if retain:
            self.retained.add(int(key.split(b":")[0]))
        if qos:
            self.to_ack.append((mid, qos))


def _payload(index: int) -> bytes:
    size = (10, 700, CHUNK + 5000, 3000)[index % 4]
    head = f"{index:07d}:".encode().ljust(16, b"-")
    return (head + bytes(range(256)) * (size // 256 + 1))[:max(size, 16)]


def _reader(tls_broker: TlsBroker, pki: Pki, client_id: str, collector: Collector) -> BufferedReadClient:
    client = BufferedReadClient(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set_context(tls_context(TlsFiles(pki.ca_cert, pki.cert(CENTRAL), pki.key(CENTRAL))))
    client.manual_ack_set(True)
    client.on_message = collector.on_message
    client.on_publish_received = collector.on_publish
    client.connect(tls_broker.host, tls_broker.port, clean_start=False, properties=session_properties(300))
    return client


def _wait(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("fresh_reads", [reader_module.MAX_FRESH_READS, 1])
def test_every_publish_is_handed_over_intact_and_acked_by_its_packet_id(
    tls_broker: TlsBroker, pki: Pki, fresh_reads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1: every loop_read stops after one socket read, mid-packet, so paho carries the cut packet over.
    monkeypatch.setattr(reader_module, "MAX_FRESH_READS", fresh_reads)
    collector = Collector()
    client_id = f"reader-{uuid.uuid4().hex[:8]}"
    reader = _reader(tls_broker, pki, client_id, collector)
    subscribed = threading.Event()
    reader.on_subscribe = lambda *_args: subscribed.set()
    reader.loop_start()
    # Retain-As-Published, as the ingest subscribes: the retain flag arrives as the agent set it.
    reader.subscribe(f"scc/v1/agents/{AGENT}/cameras/#",
                     options=SubscribeOptions(qos=2, retainAsPublished=True, retainHandling=2))
    assert subscribed.wait(10)
    # Stop reading while the stream is published, so the socket holds many packets per read.
    reader.loop_stop()

    publisher = tls_broker.connect(AGENT)
    count = 400
    for index in range(count):
        properties = Properties(PacketTypes.PUBLISH)
        if index % 3 == 0:  # properties the reader must step over
            properties.UserProperty = [("source", "test"), ("index", str(index))]
            properties.PayloadFormatIndicator = 0
        info = publisher.publish(f"scc/v1/agents/{AGENT}/cameras/test-{index % 7}/status", _payload(index), qos=index % 3,
                                 properties=properties, retain=index % 5 == 0)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
    info.wait_for_publish(30)

    reader.loop_start()
    try:
        try:
            _wait(lambda: len(collector.payloads) == count)
        except AssertionError:
            raise AssertionError((len(collector.payloads), collector.lean, collector.paho)) from None
        for mid, qos in list(collector.to_ack):
            reader.ack(mid, qos)
        time.sleep(0.5)
        assert all(times == 1 for times in collector.payloads.values())
        assert collector.retained == set(range(0, count, 5))  # bit 0 of the fixed header, both paths
        # Both paths ran: paho for the first packet of a read and those cut across reads, the lean
        # hand-over for the rest of what a read brought (QoS 0 and 1).
        assert collector.lean > count // 3 and collector.paho > 0, (collector.lean, collector.paho)
    finally:
        reader.disconnect()
        reader.loop_stop()

    # Every acknowledgement named the right packet: the session has nothing left to redeliver.
    again = Collector()
    reader = _reader(tls_broker, pki, client_id, again)
    reader.loop_start()
    try:
        time.sleep(1.5)
        assert again.payloads == {}
    finally:
        reader.disconnect()
        reader.loop_stop()
        for camera in range(7):  # the broker is shared by this worker's tests: leave nothing retained
            publisher.publish_and_wait(f"scc/v1/agents/{AGENT}/cameras/test-{camera}/status", b"", retain=True)


def test_variable_byte_integers_decode_and_cut_off_or_overlong_ones_are_refused() -> None:
    for value, encoded in ((0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
                           (268_435_455, b"\xff\xff\xff\x7f")):
        assert read_varint(b"\x30" + encoded + b"rest", 1, len(encoded) + 5) == (value, 1 + len(encoded))
    assert read_varint(b"\x30\x80\x80", 1, 3) is None  # cut off: the next read brings the rest
    assert read_varint(b"\x30\xff\xff\xff\xff\x01", 1, 6) is None  # five bytes: not MQTT, paho says so
