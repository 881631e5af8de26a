"""What an address a device advertises means to the agent: the one place that decides "this box" and "reachable".

Devices advertise addresses the agent cannot use: ``localhost`` or 127/8 (firmware that never learnt
its own address), a NATed or stale IPv4 address, a host name without DNS. Discovery (the XAddr a
device announces) and the ONVIF client (service, stream and snapshot URIs the device returns) make
the same decision with these functions, so a URI naming the agent's own box is never probed or
used, whichever path it came in by.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from urllib.parse import SplitResult, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}


def ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``host`` as an IPv4 address, or None for names and IPv6."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address if isinstance(address, ipaddress.IPv4Address) else None


def is_local_only(host: str) -> bool:
    """An address that means "this box" to whoever uses it: never the camera, seen from the agent."""
    lowered = host.lower().strip("[]")
    if lowered in ("localhost", "localhost.localdomain", "ip6-localhost", "::1", "::"):
        return True
    address = ipv4(lowered)
    return address is not None and (address.is_loopback or address.is_unspecified)


def host_port_of(url: str) -> tuple[str, int] | None:
    """Host and port of ``url`` (the scheme's default port when none is written); None when it has no host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)


def with_host(url: str, host: str, port: int) -> str:
    """``url`` at ``host:port``, keeping its scheme, user info, path and query."""
    parts: SplitResult = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    shown = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{userinfo + '@' if userinfo else ''}{shown}:{port}"))


def names_this_box(host: str, camera_host: str) -> bool:
    """``host``, in a URI from the camera at ``camera_host``, means the agent's own box, not the camera.

    A loopback name from a camera on the LAN is the camera not knowing its address; from a camera on
    this very box (the simulator, a camera proxy) it is where that camera really is.
    """
    return is_local_only(host) and not is_local_only(camera_host)


async def tcp_reachable(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout`` seconds (closed at once)."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
