"""`alerts run` under systemd: READY=1 once, the watchdog petted while idling between ticks, STOPPING=1."""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.alerts.config import AlertsConfig
from central.alerts.service import AlertService
from central.config import CentralConfig


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    # A short path under /tmp: AF_UNIX paths are limited to ~108 bytes and tmp_path can exceed it.
    with tempfile.TemporaryDirectory(prefix="sdn") as directory:
        path = Path(directory) / "notify"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(str(path))
        server.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        # WatchdogSec=0.4 s: pets are due every 0.2 s, far more often than the 30 s tick interval.
        monkeypatch.setenv("WATCHDOG_USEC", "400000")
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        try:
            yield server
        finally:
            server.close()


def test_run_notifies_ready_pets_the_watchdog_between_ticks_and_says_stopping(
    notify_socket: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = CentralConfig(state_dir=tmp_path, alerts=AlertsConfig(interval_s=30))
    service = AlertService(config, database=None)  # type: ignore[arg-type]  # tick is replaced below
    ticks = threading.Event()
    monkeypatch.setattr(service, "tick", ticks.set)
    monkeypatch.setattr(service, "close", lambda: None)
    stop = threading.Event()
    runner = threading.Thread(target=service.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert notify_socket.recv(4096).startswith(b"READY=1")
        assert ticks.wait(5)
        # Several pets inside one 30 s interval: idling is not mistaken for a hang.
        pets = [notify_socket.recv(4096) for _ in range(5)]
        assert pets == [b"WATCHDOG=1"] * 5
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()
    remaining = []
    notify_socket.settimeout(0.5)
    try:
        while True:
            remaining.append(notify_socket.recv(4096))
    except TimeoutError:
        pass
    assert remaining and remaining[-1].startswith(b"STOPPING=1")
