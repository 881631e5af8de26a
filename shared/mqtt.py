"""One paho-mqtt client factory for every SCC process: MQTT v5, mutual TLS from files, LWT, reconnect.

The broker takes each client's id from its certificate (``use_identity_as_username`` with
``use_username_as_clientid``), so a certificate can only ever resume its own session: two processes
holding the same certificate would take the session from each other. Every process that stays
connected next to another therefore has a certificate of its own (see :func:`identity_name`), and
:func:`make_client` sends the certificate's name as the client id, which is what the broker uses anyway.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.x509.oid import NameOID
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

    def sibling(self, purpose: str) -> TlsFiles:
        """The files of the identity :func:`identity_name` gives ``purpose``, next to these ones.

        ``/etc/scc/pki/clients/central.crt`` -> ``central-alerts.crt`` (and ``.key``): scc-provision
        writes every client's files into one directory under the certificate's name.
        """
        name = identity_name(self.cert.stem, purpose)
        return TlsFiles(self.ca, self.cert.with_name(name + self.cert.suffix), self.key.with_name(name + self.key.suffix))


# Purposes of central's own certificates besides the ingest's: each one connects while the ingest is
# connected, so each has its own certificate and with it its own client id and session.
COMMANDS_PURPOSE = "commands"  # the web's command sender
ALERTS_PURPOSE = "alerts"  # the alerts service's publisher on scc/v1/public/alerts
LIVE_PURPOSE = "live"  # the live-view relay: reads scc/v1/live/..., sends live_start/live_stop


def ingest_worker_purpose(index: int) -> str:
    """Ingest worker ``index`` of ``--workers N``; worker 0 is the ingest's own certificate."""
    if index < 1:
        raise ValueError("worker 0 uses the ingest's own certificate")
    return f"ingest-{index}"


def identity_name(base: str, purpose: str) -> str:
    """The certificate name for ``purpose`` next to certificate ``base``: ``central`` -> ``central-alerts``."""
    return f"{base}-{purpose}"


def certificate_name(cert: Path) -> str:
    """The CN of the PEM certificate at ``cert``: the broker's user name and client id for its holder."""
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise ValueError(f"{cert} has no common name: not a certificate scc-provision issued")
    return str(names[0].value)


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


# The agents' reconnect backoff cap: spread out, hundreds of agents do not all knock at once.
RECONNECT_MAX_S = 60
# A central process's one client (an ingest worker, the live-view relay, the alerts sender): cheap to
# reconnect, and every second it waits after the broker is back is a second central cannot see or send
# (the ingest stayed blind ~60 s after a 70 s outage).
CENTRAL_RECONNECT_MAX_S = 5


def make_client(
    tls: TlsFiles,
    *,
    will: Will | None = None,
    logger: logging.Logger | None = None,
    client_class: type[mqtt.Client] = mqtt.Client,
    reconnect_max_s: int = RECONNECT_MAX_S,
) -> mqtt.Client:
    """A configured, unconnected MQTT v5 client whose client id is its certificate's name.

    Its reconnect wait doubles from 1 s up to ``reconnect_max_s`` (paho's backoff): the default suits
    the agents, hundreds of them coming back after a broker outage; a single central client that
    must not stay blind long after the broker is back passes a lower cap (``CENTRAL_RECONNECT_MAX_S``).
    Connect it with ``connect_persistent``. Raises FileNotFoundError (naming the files) or ValueError
    when the TLS files are missing or unusable.
    """
    context = tls_context(tls)
    client = client_class(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=certificate_name(tls.cert),
        protocol=mqtt.MQTTv5,
    )
    client.tls_set_context(context)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    client.reconnect_delay_set(min_delay=1, max_delay=reconnect_max_s)
    client.enable_logger(_paho_logger(logger or log))
    return client


class _NotConnectedNoise(logging.Filter):
    """paho logs 'Client is not connected ... MQTT_CS_CONNECTING' as an error on every failed reconnect,
    without the cause; :class:`LinkLog` says what happened instead, once per change."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


def _paho_logger(parent: logging.Logger) -> logging.Logger:
    paho = parent.getChild("paho")
    if not any(isinstance(f, _NotConnectedNoise) for f in paho.filters):
        paho.addFilter(_NotConnectedNoise())
    return paho


def describe_connect_error(error: BaseException) -> str:
    """What a failed connection attempt means to an operator: a TLS problem, or the broker not reachable."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS error: the broker's certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return "not reachable: connection refused (broker not running or port closed)"
    if isinstance(error, TimeoutError | socket.timeout):
        return "not reachable: timed out"
    if isinstance(error, socket.gaierror):
        return f"not reachable: host name not resolved ({error.strerror})"
    if isinstance(error, OSError):
        return f"not reachable: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"


class LinkLog:
    """Logs a client's connection state once per change: connected, refused (with the CONNACK reason),
    TLS error, not reachable, disconnected; never once per reconnect attempt.

    ``watch(client)`` installs paho's on_connect_fail; the owner calls :meth:`connected`,
    :meth:`refused` and :meth:`lost` from its own on_connect and on_disconnect.
    """

    def __init__(self, logger: logging.Logger, broker: str) -> None:
        self.log = logger
        self.broker = broker
        self.state = "connecting"
        self.failed_attempts = 0

    def watch(self, client: mqtt.Client) -> None:
        client.on_connect_fail = self._connect_failed

    def _connect_failed(self, _client: mqtt.Client, _userdata: object) -> None:
        # paho calls this inside its ``except OSError`` around the attempt: the error is the one handled now.
        error = sys.exc_info()[1]
        self._failed(describe_connect_error(error) if error is not None else "connection failed")

    def _failed(self, state: str) -> None:
        self.failed_attempts += 1
        if state != self.state:
            self.state = state
            self.log.warning("broker %s %s; retrying (logged again only when this changes)", self.broker, state)

    def refused(self, reason: object) -> None:
        value = getattr(reason, "value", reason)
        self._failed(f"refused the connection: {reason} (0x{value:02x})" if isinstance(value, int)
                     else f"refused the connection: {reason}")

    def connected(self, session_present: bool) -> None:
        after = f" after {self.failed_attempts} failed attempt(s)" if self.failed_attempts else ""
        self.log.info("connected to broker %s%s (session present: %s)", self.broker, after, session_present)
        self.state, self.failed_attempts = "connected", 0

    def lost(self, reason: object) -> None:
        """The connection ended (or a CONNECT was answered by a disconnect): logged if it was up."""
        if self.state == "connected":
            self.state = "disconnected"
            self.log.warning("disconnected from broker %s: %s", self.broker, reason)


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
