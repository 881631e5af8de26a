"""Type=notify units need programs that send READY=1 and pet the watchdog, or systemd kills them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# unit -> the package whose long-running loop must call shared.sdnotify
NOTIFYING = {
    "scc-agent.service": REPO / "edge_agent",
    "scc-central-ingest.service": REPO / "central" / "ingest",
    "scc-central-alerts.service": REPO / "central" / "alerts",
    "scc-central-live.service": REPO / "central" / "live_view",
}


def _calls(package: Path) -> set[str]:
    text = "\n".join(path.read_text(encoding="utf-8") for path in package.rglob("*.py"))
    return set(re.findall(r"\b(notify_ready|notify_watchdog|watchdog_interval)\(", text))


@pytest.mark.parametrize("unit", sorted(NOTIFYING))
def test_notify_units_have_notifying_programs(unit: str) -> None:
    text = (REPO / "systemd" / unit).read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text
    package = NOTIFYING[unit]
    calls = _calls(package) if package.is_dir() else set()
    missing = {"notify_ready", "notify_watchdog", "watchdog_interval"} - calls
    assert not missing, f"{package.relative_to(REPO)} never calls {sorted(missing)} (shared/sdnotify.py)"
