"""Webhooks reach public addresses, and internal ones only when central.toml allows them, checked at send."""

from __future__ import annotations

import ipaddress
import queue
from datetime import UTC, datetime

import pytest

from central.alerts.config import WebhookChannel
from central.alerts.destinations import DestinationRefused, check_address, resolve
from central.alerts.senders import DeliveryError, WebhookSender
from shared.messages import AlertEvent, AlertSeverity
from tests.central.alerts.receivers import WebhookServer

INTERNAL = ["127.0.0.1", "169.254.169.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "0.0.0.0",
            "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "224.0.0.1"]  # fmt: skip


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_refused_unless_allowed(address: str) -> None:
    with pytest.raises(DestinationRefused, match="webhook_allowed_networks"):
        check_address(ipaddress.ip_address(address), [])
    network = ipaddress.ip_network(
        f"{ipaddress.ip_address(address)}/128" if ":" in address else f"{address}/32"
    )
    check_address(ipaddress.ip_address(address), [network])


def test_public_addresses_pass() -> None:
    for address in ("8.8.8.8", "203.194.112.1", "2001:4860:4860::8888"):
        check_address(ipaddress.ip_address(address), [])


def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    with pytest.raises(DestinationRefused, match="internal address"):
        resolve("localhost", 80, [])
    assert resolve("localhost", 80, [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")])


def _event() -> AlertEvent:
    now = datetime.now(UTC)
    return AlertEvent(seq=1, msg_id="0" * 32, ts=now, alert_id="a1", rule="camera_offline", state="firing",
                      severity=AlertSeverity.WARNING, subject="camera x", message="down", started_at=now)  # fmt: skip


def test_the_metadata_service_is_never_posted_to() -> None:
    channel = WebhookChannel.model_validate(
        {"name": "cloud", "url": "http://169.254.169.254/latest/meta-data/"}
    )
    with pytest.raises(DeliveryError, match="internal address") as refused:
        WebhookSender(channel).send(_event())
    assert refused.value.permanent


def test_send_time_check_and_pinned_address(webhook_server: WebhookServer) -> None:
    # A name that resolves to loopback now (as a rebinding DNS would answer at send time) is refused...
    port = webhook_server.url.rsplit(":", 1)[1].split("/")[0]
    url = f"http://localhost:{port}/hook"
    channel = WebhookChannel.model_validate({"name": "local", "url": url})
    with pytest.raises(DeliveryError, match="internal address"):
        WebhookSender(channel).send(_event())
    assert webhook_server.requests.empty()
    # ...and goes through once allowed, to the checked address, with the name kept for Host.
    allowed = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    WebhookSender(channel, allowed=allowed).send(_event())
    request = webhook_server.requests.get(timeout=5)
    assert request.headers["Host"] == f"localhost:{port}"
    with pytest.raises(queue.Empty):
        webhook_server.requests.get_nowait()
