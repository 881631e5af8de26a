"""`scc-central ingest --workers N`: run N worker processes on the shared subscription as one service.

One Python process tops out near 7k reports/s (decode, SQLAlchemy and paho's network thread share one
GIL); the shared subscription spreads the stream over processes, so decoding and MQTT I/O scale across
cores while the database serializes only the commits.

systemd sees one service (``NotifyAccess=main``): each child reports to its own private notification
socket here, using the same sd_notify protocol it would use under systemd directly. The supervisor
sends READY=1 once every child has subscribed and pets the watchdog only while every child still
does; SIGTERM is forwarded (``KillMode=mixed`` signals only the main process). A child that dies
takes the others down and the supervisor exits non-zero: systemd restarts the whole set, and the
broker redelivers whatever was not acknowledged.

Worker K (``--worker K``) connects with its own certificate (``central-ingest-K``; worker 0 with the
ingest's own): the broker makes a certificate's name its client id, so each worker keeps its own session.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from shared import sdnotify

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 25.0  # below the unit's TimeoutStopSec=30s, so systemd's SIGKILL stays a last resort
POLL_S = 0.5


@dataclass(slots=True)
class _Child:
    index: int
    process: subprocess.Popen[bytes]
    notify: socket.socket
    ready: bool = False
    last_ping: float = field(default_factory=time.monotonic)


def _notify_socket() -> tuple[socket.socket, str]:
    # Abstract namespace: nothing on disk to clean up, and the unit's ProtectSystem needs no writable path.
    name = f"scc-ingest-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    sock.bind("\0" + name)
    sock.setblocking(False)
    return sock, "@" + name


def _child_env(notify_address: str, watchdog_usec: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env["NOTIFY_SOCKET"] = notify_address
    if watchdog_usec is not None:
        env["WATCHDOG_USEC"] = str(watchdog_usec)  # no WATCHDOG_PID: the child is the one to ping
    return env


class Supervisor:
    """Starts ``workers`` ingest processes and relays their readiness and liveness to systemd."""

    def __init__(self, config_path: Path, log_level: str, workers: int) -> None:
        self.config_path = config_path
        self.log_level = log_level
        self.workers = workers
        self.children: list[_Child] = []
        self._stopping = False
        interval = sdnotify.watchdog_interval()
        self._watchdog_s = interval
        self._watchdog_usec = round(interval * 2 * 1_000_000) if interval is not None else None
        self._next_watchdog = 0.0
        self._ready_sent = False

    def stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        if not self._stopping:
            log.info("signal %d: stopping %d ingest workers", signum, len(self.children))
        self._stopping = True

    def run(self) -> int:
        """Until SIGTERM (0) or a child's death (1)."""
        for index in range(self.workers):
            self._spawn(index)
        failed = False
        try:
            while not self._stopping:
                self._relay(POLL_S)
                dead = [c for c in self.children if c.process.poll() is not None]
                if dead and not self._stopping:
                    for child in dead:
                        log.error("ingest worker %d (pid %d) exited with %s; stopping the others",
                                  child.index, child.process.pid, child.process.returncode)
                    failed = True
                    break
                self._pet_watchdog()
        finally:
            sdnotify.notify_stopping("stopping ingest workers")
            self._stop_children()
        return 1 if failed else 0

    def _spawn(self, index: int) -> None:
        sock, address = _notify_socket()
        command = [sys.executable, "-m", "central.cli", "--config", str(self.config_path), "--log-level",
                   self.log_level, "ingest", "--worker", str(index)]
        process = subprocess.Popen(command, env=_child_env(address, self._watchdog_usec))
        self.children.append(_Child(index, process, sock))
        log.info("ingest worker %d started (pid %d)", index, process.pid)

    def _relay(self, timeout: float) -> None:
        try:
            readable, _, _ = select.select([c.notify for c in self.children], [], [], timeout)
        except InterruptedError:  # a signal: the loop checks _stopping
            return
        now = time.monotonic()
        for child in self.children:
            if child.notify not in readable:
                continue
            while True:
                try:
                    state = child.notify.recv(4096).decode("utf-8", "replace")
                except BlockingIOError:
                    break
                lines = state.splitlines()
                if "READY=1" in lines:
                    child.ready = True
                if "WATCHDOG=1" in lines or "READY=1" in lines:
                    child.last_ping = now
        if not self._ready_sent and all(c.ready for c in self.children):
            self._ready_sent = True
            sdnotify.notify_ready(f"{len(self.children)} ingest workers subscribed")

    def _pet_watchdog(self) -> None:
        # Children ping every half WatchdogSec; one silent for a whole WatchdogSec is wedged, and
        # withholding our ping lets systemd restart the set (its batch unacknowledged, so redelivered).
        if self._watchdog_s is None:
            return
        now = time.monotonic()
        if now < self._next_watchdog:
            return
        wedged = [c.index for c in self.children if now - c.last_ping > self._watchdog_s * 2]
        if wedged:
            log.warning("ingest workers %s stopped pinging; no watchdog ping", wedged)
            return
        self._next_watchdog = now + self._watchdog_s / 2
        sdnotify.notify_watchdog()

    def _stop_children(self) -> None:
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in self.children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Killing loses nothing: its unacknowledged batch comes again from the broker.
                log.error("ingest worker %d did not stop in time; killing it", child.index)
                child.process.kill()
                child.process.wait()
            child.notify.close()
