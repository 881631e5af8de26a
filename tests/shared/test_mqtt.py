"""The shared MQTT client's connection log: what happened, once per change, never paho's error per attempt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from shared.mqtt import LinkLog, TlsFiles, connect_persistent, make_client
from tests.fixtures.broker import AGENT_PALEMBANG, Pki, TlsBroker, free_port

pytestmark = pytest.mark.xdist_group("broker")
LOGGER = "scc.test.link"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(LOGGER)]


def _run(pki: Pki, port: int, seconds: float, ca: str | None = None,
         until: Callable[[LinkLog], bool] | None = None) -> LinkLog:
    tls = TlsFiles(pki.ca_cert if ca is None else pki.cert(ca), pki.cert(AGENT_PALEMBANG), pki.key(AGENT_PALEMBANG))
    logger = logging.getLogger(LOGGER)
    client = make_client(tls, logger=logger)
    client.reconnect_delay_set(1, 1)
    link = LinkLog(logger, f"127.0.0.1:{port}")
    link.watch(client)
    client.on_connect = lambda _c, _u, flags, reason, _p: (
        link.connected(flags.session_present) if not reason.is_failure else link.refused(reason))
    connect_persistent(client, "127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until(link)):
        time.sleep(0.1)
    client.disconnect()
    client.loop_stop()
    return link


def test_an_unreachable_broker_is_one_line_however_many_attempts(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    link = _run(pki, free_port(), 4.5)
    assert link.failed_attempts >= 3
    warnings = [r for r in caplog.records if r.name.startswith(LOGGER) and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"broker 127.0.0.1:{link.broker.rsplit(':', 1)[1]} not reachable: connection refused (broker not running or "
        "port closed); retrying (logged again only when this changes)"]
    assert not any("Client is not connected" in line for line in _lines(caplog)), "paho's generic error leaked"


def test_a_tls_failure_says_so_and_recovery_says_after_how_many_attempts(
    pki: Pki, tls_broker: TlsBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    # Trusting the agent's own certificate instead of the SCC CA: the broker's certificate fails verification.
    _run(pki, tls_broker.port, 3.5, ca=AGENT_PALEMBANG)
    tls_lines = [line for line in _lines(caplog) if "TLS error" in line]
    assert len(tls_lines) == 1 and "not trusted" in tls_lines[0], _lines(caplog)

    caplog.clear()
    tls_broker.stop()
    try:
        link = _run(pki, tls_broker.port, 0.0)  # nothing listening yet...
        assert link.state.startswith("not reachable")
    finally:
        tls_broker.start()
    caplog.clear()
    link = _run(pki, tls_broker.port, 10, until=lambda link: link.state == "connected")
    assert link.state == "connected"
    assert any(line.startswith(f"connected to broker 127.0.0.1:{tls_broker.port}") for line in _lines(caplog))


def test_a_refusal_names_its_reason_once() -> None:
    logger = logging.getLogger(LOGGER)
    link = LinkLog(logger, "broker:8883")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for _ in range(3):
            link.refused(ReasonCode(PacketTypes.CONNACK, identifier=0x87))
        link.connected(session_present=True)
        link.lost("Unspecified error")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert records == [
        "broker broker:8883 refused the connection: Not authorized (0x87); retrying (logged again only when this changes)",
        "connected to broker broker:8883 after 3 failed attempt(s) (session present: True)",
        "disconnected from broker broker:8883: Unspecified error",
    ]
