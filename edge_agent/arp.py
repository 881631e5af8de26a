"""The MAC address the kernel's ARP table holds for a LAN address: a camera's identity when ONVIF gives none.

Linux only (``/proc/net/arp``); elsewhere, or for an address not on a directly attached network (a
routed VLAN, where the table holds the router), the answer is "" and the MAC stays unknown.
"""

from __future__ import annotations

from pathlib import Path

from edge_agent.onvif_replies import normalise_mac

ARP_TABLE = Path("/proc/net/arp")
_COMPLETE = 0x2  # ATF_COM: the entry was resolved (incomplete entries carry 00:00:00:00:00:00)
_MAX_BYTES = 1 << 20


def mac_for(host: str, table: Path = ARP_TABLE) -> str:
    """``aa:bb:cc:dd:ee:ff`` for ``host`` from the ARP table, or "" when it holds no resolved entry."""
    try:
        with table.open("rb") as handle:
            lines = handle.read(_MAX_BYTES).decode("ascii", "replace").splitlines()[1:]
    except OSError:
        return ""
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[0] != host:
            continue
        try:
            flags = int(fields[2], 16)
        except ValueError:
            continue
        if flags & _COMPLETE:
            return normalise_mac(fields[3])
    return ""
