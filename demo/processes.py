"""Start the demo's processes each in its own process group, watch them, and stop them all cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

STOP_TIMEOUT_S = 10.0


class StartError(RuntimeError):
    """A process that exited or never became ready; the message carries the end of its log."""


@dataclass
class Child:
    """One started process: its name, Popen handle and log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    first_line: str | None = None
    _first_line_ready: threading.Event = field(default_factory=threading.Event)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the small race is acceptable for a demo)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tcp_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def http_answers(url: str) -> bool:
    """True once anything below 500 answers: a login redirect or a 401 also means 'up'."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (urllib.error.URLError, OSError):
        return False


class Supervisor:
    """Owns every process the demo starts; ``stop_all`` ends them newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        capture_first_line: bool = False,
    ) -> Child:
        """Start ``argv`` in a new session (its own process group) with stdout and stderr in logs/NAME.log.

        With ``capture_first_line`` the first stdout line is kept (``wait_first_line``) and the rest
        still goes to the log: a process that prints its description as one JSON line, like scc-sim.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed when the child is reaped
        process = subprocess.Popen(
            [str(part) for part in argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_first_line else log,
            stderr=log,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            # A new session: Ctrl-C in the terminal reaches only us, and we stop each group in order.
            start_new_session=True,
        )
        log.close()
        child = Child(name, process, log_path)
        if capture_first_line:
            assert process.stdout is not None
            threading.Thread(target=_pump, args=(child, process.stdout), daemon=True).start()
        self.children.append(child)
        return child

    def wait_first_line(self, child: Child, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child._first_line_ready.wait(0.2) and child.first_line:
                return child.first_line
            if not child.alive:
                break
        raise StartError(f"{child.name} printed nothing within {timeout:.0f}s:\n{child.log_tail()}")

    def wait_until(self, child: Child, ready: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll ``ready`` until it holds; fail early, with the log, if the process dies meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if not child.alive:
                raise StartError(
                    f"{child.name} exited with status {child.process.returncode} before {what}:\n"
                    f"{child.log_tail()}"
                )
            time.sleep(0.3)
        raise StartError(f"{child.name}: no {what} within {timeout:.0f}s:\n{child.log_tail()}")

    def dead(self) -> list[Child]:
        return [child for child in self.children if not child.alive]

    def stop_all(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM each process group (newest first), then SIGKILL whatever is left after ``timeout``."""
        for child in reversed(self.children):
            _signal_group(child, signal.SIGTERM)
            # Each in turn: agents flush to the broker, so the broker must outlive them.
            _wait(child, timeout)
        for child in self.children:
            if child.alive or _group_exists(child):
                _signal_group(child, signal.SIGKILL)
                _wait(child, 2)
        self.children.clear()


def _pump(child: Child, stream: IO[bytes]) -> None:
    with stream, open(child.log_path, "ab") as log:
        first = stream.readline()
        child.first_line = first.decode("utf-8", errors="replace").strip() or None
        child._first_line_ready.set()
        for line in stream:
            log.write(line)
            log.flush()


def _signal_group(child: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, signum)


def _group_exists(child: Child) -> bool:
    try:
        os.killpg(child.process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait(child: Child, timeout: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.process.wait(timeout=timeout)
