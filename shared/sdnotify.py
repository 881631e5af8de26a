"""systemd readiness and watchdog notifications over $NOTIFY_SOCKET, with the standard library only."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

# systemd reads one datagram per state change; a few hundred bytes is plenty for our messages.
_SEND_TIMEOUT_S = 1.0


def _socket_address() -> str | None:
    """The notification socket systemd handed us, in the form ``socket.connect`` takes, or None."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return None
    if address.startswith("@"):
        # Linux abstract namespace: systemd writes '@' where the kernel expects a leading NUL.
        return "\0" + address[1:]
    if address.startswith("/"):
        return address
    # vsock addresses (VMs) are not a deployment we support; ignoring them keeps the service running.
    log.debug("ignoring unsupported NOTIFY_SOCKET %r", address)
    return None


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd; False when not under systemd or the send failed.

    Never raises: a service must not die because its supervisor is gone or was never there.
    """
    address = _socket_address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as error:
        log.warning("could not notify systemd (%s): %s", state.split("=", 1)[0], error)
        return False
    return True


def notify_ready(status: str | None = None) -> bool:
    """Tell systemd start-up finished (Type=notify units stay 'activating' until this)."""
    message = "READY=1"
    if status:
        message += f"\nSTATUS={status}"
    return notify(message)


def notify_watchdog() -> bool:
    """Pet the watchdog; call it at least every ``watchdog_interval()`` seconds."""
    return notify("WATCHDOG=1")


def notify_stopping(status: str | None = None) -> bool:
    """Tell systemd a clean shutdown has begun, so a slow stop is not taken for a hang."""
    message = "STOPPING=1"
    if status:
        message += f"\nSTATUS={status}"
    return notify(message)


def notify_status(status: str) -> bool:
    """A one-line status that ``systemctl status`` shows."""
    return notify(f"STATUS={status}")


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of WatchdogSec, leaving slack), or None if none is wanted.

    systemd sets WATCHDOG_USEC, and WATCHDOG_PID to the main process; a child that inherited the
    environment must not take the ping duty, so a PID mismatch means no watchdog for this process.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 1_000_000 / 2
