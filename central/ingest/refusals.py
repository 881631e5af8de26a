"""The log line for refused (quarantined) messages: per agent and reason, at most once a minute each.

Every refusal is quarantined with its reason; the log says it too, so that an agent whose every report
is refused does not just look silent, without one flooding agent filling the journal.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

from central.ingest.batch import Rejected
from central.storage.text import clean_text

log = logging.getLogger("central.ingest.quarantine")

LOG_EVERY_S = 60.0


class RefusalLog:
    """Logs the first refusal of each (agent, category), then at most one line per ``every_s`` with the count."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self._clock = clock
        self._next: dict[tuple[str, str], float] = {}
        self._held: Counter[tuple[str, str]] = Counter()

    def log(self, rejected: Sequence[Rejected]) -> None:
        """Count this batch's refusals; log those whose (agent, category) is due, with the count held since."""
        now = self._clock()
        last: dict[tuple[str, str], Rejected] = {}
        for entry in rejected:
            key = (entry.agent or "?", entry.category)
            self._held[key] += 1
            last[key] = entry
        for key, entry in last.items():
            if now < self._next.get(key, 0.0):
                continue
            self._next[key] = now + self.every_s
            log.warning(
                "quarantined %d message(s) from agent %s (%s): %s; last on %s", self._held.pop(key), key[0], key[1],
                clean_text(entry.reason[:300]), clean_text(entry.item.topic[:200]),
            )
