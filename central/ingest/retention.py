"""Agents retain only what the contract allows: each retained agent message is audited, refused ones cleared.

Mosquitto 2.0.11 cannot refuse a retained message per topic, and a retained message stays in its memory
until someone publishes an empty retained message on the same topic: an agent publishing 300 retained
1 MB messages under its own subtree took the broker from 19 MB to 375 MB. So central enforces the
contract's retention table (``shared.codec.RETAINED_CHANNELS``) right after the fact:

- The ingest subscribes with Retain-As-Published, so each message keeps its publisher's retain flag
  (``Received.retain``). A message the broker holds retained also comes, flagged, whenever the ingest
  (re)subscribes (Mosquitto 2.0.11 sends retained messages to shared subscriptions too), so whatever was
  retained while the ingest was away, or before this check existed, is audited at its next start.
- A retained message on a channel that retains nothing, or over the channel's bound, is quarantined as
  :data:`RETAINED_FORBIDDEN` with the reason. If it is otherwise a valid report it is stored all the same
  (it is still the agent's report) and quarantined once beside it as a flag, so the admin Quarantine page,
  the log (one line per agent and reason a minute) and the agent_refused alert all show an agent retaining.
- Every retained message central refuses, for that or any other reason (undecodable, unknown agent, a
  camera never inventoried, over the per-agent caps...), is cleared after the commit: the worker publishes
  an empty retained message on its topic. The ingest identities may write agent topics for this alone
  (provisioning/broker.py). An empty retained message carries no report: vetting ignores it quietly, so
  central's own clear never comes back as a refusal and clearing cannot loop.
- The live-view tree, which the ingest does not read, is swept the same way every half minute
  (:class:`LiveSweep`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.ingest.batch import Rejected, Vetted
from shared import topics

RETAINED_FORBIDDEN = "retained_forbidden"
CLEARED = "cleared from the broker"


def mark(vetted: Vetted, reasons: dict[int, str]) -> None:
    """Apply vetting's retention refusals (``id(item)`` -> why) to what it accepted and rejected.

    A rejected message gets the retention category, its own refusal kept in the reason; an accepted one
    stays accepted and gets a flag.
    """
    for entry in vetted.rejected:
        why = reasons.get(id(entry.item))
        if why:
            entry.category, entry.reason = RETAINED_FORBIDDEN, f"{why}; {CLEARED}; and refused: {entry.reason}"
    for accepted in vetted.accepted:
        why = reasons.get(id(accepted.item))
        if why:
            vetted.flagged.append(Rejected(accepted.item, RETAINED_FORBIDDEN, f"{why}; {CLEARED}, stored as a report",
                                           accepted.message.agent, accepted.message.msg_id))


def merge_refused(flagged: list[Rejected], refused: list[Rejected]) -> list[Rejected]:
    """The flags left once those of messages a handler refused are folded into that refusal.

    One message gives one quarantine row (rows are keyed by topic and payload): a flagged status about a
    camera never inventoried is quarantined as retained_forbidden, the handler's reason kept.
    """
    if not flagged or not refused:
        return flagged
    by_item = {id(entry.item): entry for entry in flagged}
    for entry in refused:
        flag = by_item.pop(id(entry.item), None)
        if flag is not None:
            why = flag.reason.removesuffix(", stored as a report")
            entry.category, entry.reason = RETAINED_FORBIDDEN, f"{why}; and refused: {entry.reason}"
    return list(by_item.values())


def topics_to_clear(entries: Iterable[Rejected]) -> set[str]:
    """Topics of the refused or flagged messages the broker holds retained (empty ones are clears already).

    A topic no PUBLISH may carry (a wildcard, a NUL: a broker never delivers one) is left out, so that
    paho's refusal to publish it cannot stop the clears after it.
    """
    return {entry.item.topic for entry in entries
            if entry.item.retain and entry.item.payload and not _UNPUBLISHABLE.intersection(entry.item.topic)}


_UNPUBLISHABLE = frozenset("+#\x00")


LIVE_PREFIX = topics.LIVE + "/"
LIVE_SWEEP_INTERVAL_S = 30.0


def is_live(topic: str) -> bool:
    return topic.startswith(LIVE_PREFIX)


class LiveSweep:
    """Every ``interval_s``, a moment's subscription to the live-view tree, to clear what agents retained there.

    Live frames have their own tree (``scc/v1/live/<agent>/<camera>``) so that the ingest never reads a
    stream, and the contract retains none; yet an agent may publish them retained, and each would stay in
    the broker's memory. So worker 0 subscribes to ``scc/v1/live/#`` and unsubscribes as soon as the SUBACK
    comes: the broker sends every retained live message right after the SUBACK, and the frames of open
    streams that slip in before the unsubscription are dropped unread (QoS 0, nothing to acknowledge). A
    retained one goes through vetting like any retained message: quarantined as retained_forbidden, never
    decoded, then cleared. All calls but :meth:`acknowledged` come from the worker's thread.
    """

    def __init__(self, client: mqtt.Client, interval_s: float = LIVE_SWEEP_INTERVAL_S) -> None:
        self.client = client
        self.interval_s = interval_s
        self._lock = threading.Lock()  # the SUBACK may come before subscribe() has told us its mid
        self._mid: int | None = None
        self._next = 0.0
        self.sweeps = 0

    def run_if_due(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.interval_s
        options = SubscribeOptions(qos=0, retainAsPublished=True, retainHandling=0)
        with self._lock:
            rc, mid = self.client.subscribe(f"{topics.LIVE}/#", options=options)
            self._mid = mid if rc == mqtt.MQTT_ERR_SUCCESS else None

    def reset(self) -> None:
        """A new connection: a sweep the old one cut short is over (its SUBACK will never come)."""
        with self._lock:
            self._mid = None

    def acknowledged(self, mid: int) -> bool:
        """Whether SUBACK ``mid`` answers the sweep's subscription (network thread): then end it at once."""
        with self._lock:
            if mid != self._mid:
                return False
            self._mid = None
        self.client.unsubscribe(f"{topics.LIVE}/#")
        self.sweeps += 1
        return True
