"""The ARP table as the MAC of last resort: resolved entries only, in the agent's one notation."""

from __future__ import annotations

from pathlib import Path

from edge_agent.arp import mac_for

TABLE = """IP address       HW type     Flags       HW address            Mask     Device
10.0.0.5         0x1         0x2         A0:B1:C2:D3:E4:F5     *        eth0
10.0.0.6         0x1         0x0         00:00:00:00:00:00     *        eth0
10.0.0.50        0x1         0x2         a0:b1:c2:d3:e4:f6     *        eth0
"""


def test_mac_for(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(TABLE)
    assert mac_for("10.0.0.5", table) == "a0:b1:c2:d3:e4:f5"
    assert mac_for("10.0.0.6", table) == "", "incomplete: not resolved"
    assert mac_for("10.0.0.7", table) == "", "not in the table"
    assert mac_for("10.0.0.5", tmp_path / "missing") == ""
