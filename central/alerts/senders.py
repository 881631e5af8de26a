"""The ways an AlertEvent leaves central: signed webhook, SMTP e-mail, Apprise URL, and the public MQTT topic."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt

from central.alerts.config import AppriseChannel, EmailChannel, MqttChannel, WebhookChannel, apprise_display
from central.alerts.destinations import DestinationRefused, IPNetwork, UnresolvedHost, resolve
from central.alerts.notices import body_text, subject_line
from central.config import BrokerConfig
from central.mail import MailError, SmtpMailer, build_email
from central.redact import display_url
from shared import topics
from shared.messages import AlertEvent, AlertSeverity
from shared.mqtt import (
    ALERTS_PURPOSE,
    CENTRAL_RECONNECT_MAX_S,
    QOS_AT_LEAST_ONCE,
    make_client,
    reason_is_success,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-SCC-Signature"
TIMESTAMP_HEADER = "X-SCC-Timestamp"
DELIVERY_HEADER = "X-SCC-Delivery"
USER_AGENT = "scc-central-alerts/1"


class DeliveryError(Exception):
    """A send that failed; ``permanent`` ones are not retried (a 404 stays a 404)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    name: str

    def send(self, event: AlertEvent) -> None: ...


# --- webhook ------------------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>.<body>"); the timestamp defeats replays."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_webhook_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does (used by the tests, documented for integrators)."""
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), header)


class WebhookSender:
    """POSTs the AlertEvent JSON, signed when the channel has a secret, only to permitted addresses.

    The host is resolved and checked at each send (``destinations.py``) and the request goes to the
    checked address itself, with the name kept for Host and TLS: no second lookup can answer otherwise.
    """

    def __init__(
        self, channel: WebhookChannel, client: httpx.Client | None = None, allowed: Sequence[IPNetwork] = ()
    ) -> None:
        self.name = channel.name
        self._channel = channel
        self._allowed = tuple(allowed)
        self._client = client or httpx.Client(timeout=channel.timeout_s, follow_redirects=False)

    def _pinned(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """(URL with the checked address, extra headers, request extensions) for ``url``."""
        port = url.port or (443 if url.scheme == "https" else 80)
        host = url.raw_host.decode("ascii")  # IDNA-encoded, as DNS and TLS see it
        try:
            address = resolve(host, port, self._allowed)[0]
        except DestinationRefused as refused:
            shown = display_url(str(url))
            raise DeliveryError(f"{shown}: {refused}", permanent=not isinstance(refused, UnresolvedHost)) from None
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        return url.copy_with(host=str(address)), {"Host": url.netloc.decode("ascii")}, extensions

    def send(self, event: AlertEvent) -> None:
        body = event.model_dump_json().encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: event.msg_id,
            TIMESTAMP_HEADER: timestamp,
        }
        secret = self._channel.secret.get_secret_value()
        if secret:
            headers[SIGNATURE_HEADER] = webhook_signature(secret, timestamp, body)
        url = str(self._channel.url)
        target, host_header, extensions = self._pinned(httpx.URL(url))
        try:
            response = self._client.post(target, content=body, headers=headers | host_header, extensions=extensions)
        except httpx.HTTPError as error:
            # The error text lands in the delivery log on the channels page; some name the URL and its token.
            message = str(error).replace(url, display_url(url)).replace(str(target), display_url(url))
            raise DeliveryError(f"{type(error).__name__}: {message}") from None
        if response.is_success:
            return
        # Client errors will not fix themselves, except "too many requests" and "timeout".
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        raise DeliveryError(f"HTTP {response.status_code}", permanent=permanent)


# --- e-mail -------------------------------------------------------------------------------------


class EmailSender:
    def __init__(self, channel: EmailChannel, mailer: SmtpMailer, public_url: str = "") -> None:
        self.name = channel.name
        self._channel = channel
        self._mailer = mailer
        self._public_url = public_url

    def send(self, event: AlertEvent) -> None:
        message = build_email(
            self._mailer.sender, self._channel.to, subject_line(event), body_text(event, self._public_url)
        )
        message["X-SCC-Alert-Id"] = event.alert_id
        message["X-SCC-Delivery"] = event.msg_id
        try:
            self._mailer.send(message)
        except MailError as error:
            raise DeliveryError(str(error), permanent=error.permanent) from None


# --- Apprise ------------------------------------------------------------------------------------

# Channel URLs carry tokens (Slack, Teams, Telegram, any Apprise URL), and the HTTP libraries log the
# URLs they call: httpx at INFO, Apprise and urllib3 (under Apprise) at DEBUG. Their records never reach
# central's log; a failed send is described, scrubbed, in the delivery's error instead.
for _library in ("apprise", "urllib3", "httpx", "httpcore"):
    logging.getLogger(_library).propagate = False

_APPRISE_TYPES = {"resolved": "success", AlertSeverity.CRITICAL.value: "failure", AlertSeverity.WARNING.value: "warning"}


# Schemes whose host is one the admin chose (not a token on a fixed service's URL): it is checked at
# each send like a webhook's, so an Apprise URL cannot reach what a webhook may not (destinations.py).
_HOSTED_SCHEMES = frozenset({
    "json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys", "gotify", "gotifys", "mmost", "mmosts",
    "matrix", "matrixs", "rocket", "rockets", "apprise", "apprises", "ncloud", "nclouds",
})  # fmt: skip


class AppriseSender:
    """Sends the alert's subject and text through one Apprise URL (Telegram, WhatsApp, ntfy, ...)."""

    def __init__(self, channel: AppriseChannel, public_url: str = "", allowed: Sequence[IPNetwork] = ()) -> None:
        import apprise  # loaded when a channel uses it (see AppriseChannel)

        self._allowed = tuple(allowed)
        self.name = channel.name
        self._url = channel.url.get_secret_value()
        self._display = apprise_display(self._url)
        self._public_url = public_url
        self._apprise = apprise.Apprise()
        if not self._apprise.add(self._url):
            raise DeliveryError(f"{self._display}: not a URL Apprise can send to", permanent=True)

    def send(self, event: AlertEvent) -> None:
        import apprise

        self._check_destination()
        kind = _APPRISE_TYPES.get("resolved" if event.state == "resolved" else event.severity.value, "info")
        with apprise.LogCapture(level=logging.WARNING) as captured:
            result = self._apprise.notify(
                title=subject_line(event), body=body_text(event, self._public_url), notify_type=kind
            )
        if not result:
            said = [line for line in captured.getvalue().splitlines() if line.strip()]
            detail = f": {self._scrubbed(said[-1])}" if said else ""
            raise DeliveryError(f"{self._display} did not take the notification{detail}")

    def _check_destination(self) -> None:
        parts = urlsplit(self._url)
        if parts.scheme not in _HOSTED_SCHEMES or not parts.hostname:
            return
        try:
            resolve(parts.hostname, parts.port or (443 if parts.scheme.endswith("s") else 80), self._allowed)
        except DestinationRefused as refused:
            raise DeliveryError(f"{self._display}: {self._scrubbed(str(refused))}",
                                permanent=not isinstance(refused, UnresolvedHost)) from None

    def _scrubbed(self, text: str) -> str:
        """``text`` without the URL or any part of it (user, password, host, path, query): each may be a token."""
        parts = urlsplit(self._url)
        pieces = {self._url, parts.netloc, parts.path, parts.query, parts.username or "", parts.password or ""}
        pieces |= {piece for segment in (parts.netloc, parts.path, parts.query)
                   for piece in re.split(r"[/@:?&=]", segment)}
        for piece in sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True):
            text = text.replace(piece, "…")
        return text[:300]


# --- MQTT ---------------------------------------------------------------------------------------


class MqttSender:
    """Publishes AlertEvent on scc/v1/public/alerts (QoS 1, not retained: alerts are events)."""

    name = "mqtt"

    def __init__(self, channel: MqttChannel, broker: BrokerConfig) -> None:
        self._channel = channel
        self._broker = broker
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._refused: dict[int, str] = {}

    def _connect(self) -> mqtt.Client:
        if self._client is not None:
            return self._client
        broker = self._broker
        # Its own certificate: with the ingest's, each connection would take the other's session.
        client = make_client(broker.tls.sibling(ALERTS_PURPOSE), logger=log, reconnect_max_s=CENTRAL_RECONNECT_MAX_S)

        def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
            if reason_is_success(reason):
                self._connected.set()
            else:
                log.warning("alerts MQTT connection refused: %s", reason)

        def on_disconnect(_c: mqtt.Client, _u: object, _f: object, _r: object, _p: object) -> None:
            self._connected.clear()

        def on_publish(_c: mqtt.Client, _u: object, mid: int, reason: object, _p: object) -> None:
            # The broker acknowledges an ACL refusal too (v5 reason 0x87): that is not a delivery.
            if not reason_is_success(reason):
                self._refused[mid] = str(reason)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.connect_async(broker.host, broker.port, keepalive=30)
        client.loop_start()
        self._client = client
        return client

    def send(self, event: AlertEvent) -> None:
        client = self._connect()
        timeout = self._channel.publish_timeout_s
        if not self._connected.wait(timeout):
            raise DeliveryError(f"broker {self._broker.host}:{self._broker.port} not reachable")
        info = client.publish(
            topics.PUBLIC_ALERTS_TOPIC, event.model_dump_json().encode(), qos=QOS_AT_LEAST_ONCE, retain=False
        )
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as error:
            raise DeliveryError(f"publish failed: {error}") from None
        if not info.is_published():
            raise DeliveryError("broker did not acknowledge the publish in time")
        refused = self._refused.pop(info.mid, None)
        if refused is not None:
            raise DeliveryError(f"broker refused the publish: {refused}", permanent=True)

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
