"""The one table of message kinds and the module that applies each, and the order they run in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from central.ingest.apply import (
    camera_status,
    command_result,
    host_metrics,
    inventory,
    presence,
    thumbnail,
    website_status,
)
from central.ingest.apply.agents import ensure_agents, touch_agents
from central.ingest.apply.context import Batch
from central.ingest.batch import Accepted
from shared.messages import (
    AgentBirth,
    AgentOffline,
    CameraInventory,
    CameraStatus,
    CameraThumbnail,
    CommandResult,
    Envelope,
    HostMetrics,
    WebsiteStatus,
)

Handler = Callable[[Batch, list[Accepted[Any]]], None]

# Adding a message kind: write apply/<kind>.py with apply(batch, entries) and list it here. A kind's
# messages reach its handler together, in arrival order; the handlers run in this order, so an
# inventory's lost cameras and the reports of an agent precede its going offline in the same batch
# (presence last). Two kinds sharing a handler reach it as one list.
HANDLERS: dict[type[Envelope], Handler] = {
    CameraInventory: inventory.apply,
    CameraStatus: camera_status.apply,
    CameraThumbnail: thumbnail.apply,
    WebsiteStatus: website_status.apply,
    HostMetrics: host_metrics.apply,
    CommandResult: command_result.apply,
    AgentBirth: presence.apply,
    AgentOffline: presence.apply,
}
_ORDER: tuple[Handler, ...] = tuple(dict.fromkeys(HANDLERS.values()))


def apply_all(batch: Batch, fresh: Sequence[Accepted[Envelope]]) -> None:
    """Apply every message of ``fresh`` (vetted, claimed) in ``batch``'s transaction, then write its events."""
    by_handler: dict[Handler, list[Accepted[Any]]] = {}
    for entry in fresh:
        # A kind without a handler fails loudly: the writer retries it alone and quarantines it.
        by_handler.setdefault(HANDLERS[type(entry.message)], []).append(entry)
    ensure_agents(batch, fresh)
    touch_agents(batch, fresh)
    presence.heard_again(batch, fresh)
    for handler in _ORDER:
        entries = by_handler.get(handler)
        if entries:
            handler(batch, entries)
            batch.transitions.write_periods(batch.conn)
    batch.transitions.write_events(batch.conn)
