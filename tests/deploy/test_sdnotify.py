"""shared.sdnotify speaks systemd's NOTIFY_SOCKET datagram protocol and stays silent outside systemd."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import sdnotify


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    # A short path under /tmp: AF_UNIX paths are limited to ~108 bytes and pytest's tmp_path can exceed it.
    with tempfile.TemporaryDirectory(prefix="sdn") as directory:
        path = Path(directory) / "notify"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(str(path))
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        try:
            yield server
        finally:
            server.close()


def test_ready_sends_ready_and_status(notify_socket: socket.socket) -> None:
    assert sdnotify.notify_ready("connected")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=connected"


def test_watchdog_and_stopping(notify_socket: socket.socket) -> None:
    assert sdnotify.notify_watchdog()
    assert notify_socket.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.notify_stopping()
    assert notify_socket.recv(4096) == b"STOPPING=1"
    assert sdnotify.notify_status("3 cameras")
    assert notify_socket.recv(4096) == b"STATUS=3 cameras"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"scc-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify_ready()
        assert server.recv(4096) == b"READY=1"


def test_outside_systemd_is_a_silent_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify_ready() is False
    assert sdnotify.notify_watchdog() is False


def test_gone_socket_does_not_raise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "missing"))
    assert sdnotify.notify_watchdog() is False


def test_watchdog_interval_is_half_of_watchdog_sec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 15.0


def test_watchdog_interval_none_without_watchdog_or_for_another_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_PID")
    assert sdnotify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_USEC", "junk")
    assert sdnotify.watchdog_interval() is None
