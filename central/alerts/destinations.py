"""Where a webhook may point: public addresses, and internal ones only when central.toml allows them.

An admin's webhook URL must not turn central into a probe of its own network (the cloud metadata
service at 169.254.169.254, the broker, the database). A destination is refused when its host resolves
to any address that is not globally routable (loopback, link-local, private, shared, reserved,
multicast) unless that address is inside ``[alerts] webhook_allowed_networks``. The check runs when a
channel is saved and again at every send, on the addresses the send then connects to, so a DNS answer
that changes in between (rebinding) cannot slip an internal address through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationRefused(ValueError):
    """A webhook host that resolves to an address webhooks may not reach; the message says which."""


class UnresolvedHost(DestinationRefused):
    """The host has no address now: possibly passing (DNS down), unlike an internal address."""


def _plain(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    """Raise DestinationRefused unless ``address`` is public or inside an allowed network."""
    plain = _plain(address)
    if any(plain in network or address in network for network in allowed):
        return
    if not plain.is_global or plain.is_multicast:
        raise DestinationRefused(
            f"{address} is an internal address (loopback, link-local, private or reserved); "
            "list its network in [alerts] webhook_allowed_networks to allow it"
        )


def resolve(host: str, port: int, allowed: Sequence[IPNetwork]) -> list[IPAddress]:
    """Every address ``host`` resolves to, each checked; DestinationRefused if any is internal or none."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise UnresolvedHost(f"cannot resolve {host}: {error}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not addresses:
        raise UnresolvedHost(f"{host} has no address")
    for address in addresses:  # all of them: a client may use any
        check_address(address, allowed)
    return addresses
