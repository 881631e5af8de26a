"""One paho-mqtt client factory for every SCC process: MQTT v5, mutual TLS from files, LWT, reconnect."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

# A day: an agent offline for a night gets its commands, central its backlog, when they return.
DEFAULT_SESSION_EXPIRY_S = 86_400
QOS_AT_LEAST_ONCE = 1


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The CA that signed the broker, and this client's certificate and key."""

    ca: Path
    cert: Path
    key: Path

    def missing(self) -> list[Path]:
        return [path for path in (self.ca, self.cert, self.key) if not path.is_file()]


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True
    qos: int = QOS_AT_LEAST_ONCE


def tls_context(files: TlsFiles) -> ssl.SSLContext:
    """Client-side TLS: verify the broker against our CA and present our certificate."""
    missing = files.missing()
    if missing:
        raise FileNotFoundError(f"TLS file(s) not found: {', '.join(str(p) for p in missing)}")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(files.cert), keyfile=str(files.key))
    return context


def make_client(
    client_id: str,
    tls: TlsFiles | None,
    *,
    will: Will | None = None,
    logger: logging.Logger | None = None,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A configured, unconnected MQTT v5 client; connect it with ``connect_persistent``."""
    client = client_class(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    if tls is not None:
        client.tls_set_context(tls_context(tls))
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    client.reconnect_delay_set(min_delay=1, max_delay=60)
    client.enable_logger(logger or log)
    return client


def session_properties(expiry_s: int = DEFAULT_SESSION_EXPIRY_S) -> Properties:
    """CONNECT properties that keep the broker-side session (and its queue) across disconnects."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = expiry_s
    return properties


def connect_persistent(
    client: mqtt.Client,
    host: str,
    port: int,
    *,
    keepalive: int = 30,
    expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
) -> None:
    """Start connecting with a persistent session; paho's loop reconnects on its own afterwards."""
    client.connect_async(
        host, port, keepalive=keepalive, clean_start=False, properties=session_properties(expiry_s)
    )


def reason_is_success(reason_code: object) -> bool:
    """True for a v5 ReasonCode (or int) that means success; paho hands both to callbacks."""
    value = getattr(reason_code, "value", reason_code)
    return isinstance(value, int) and value < 0x80
