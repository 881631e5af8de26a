"""When the agent sends again what the broker accepted but central never confirmed storing.

A report stays in the outbox after the broker's PUBACK until central's ``reports_stored`` names it.
If none does within ``timeout_s`` the report is sent again (same msg_id; central's dedupe drops the
copy and confirms it). The clock runs only while connected, and starts ``timeout_s`` after each
connect: confirmations the broker queued for this agent while it was away arrive right after the
CONNACK and must get the chance to land first. While central stays silent (its ingest down for
hours, the broker queueing for it) each round waits twice as long as the one before, up to
``max_s``, so a thin link does not carry the whole backlog again every two minutes; the first
confirmation heard resets the wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from edge_agent.outbox import Outbox, OutboxUnavailable
from shared.messages import ReportsStored

log = logging.getLogger(__name__)


class ResendClock:
    """Decides, from loop times in seconds, whether a resend round is due and how old 'unconfirmed' is."""

    def __init__(self, timeout_s: float, max_s: float) -> None:
        self.timeout_s = timeout_s
        self.max_s = max(max_s, timeout_s)
        self.wait_s = timeout_s
        self._connected_at: float | None = None
        self._next_round = 0.0
        self._heard = False

    @property
    def check_every_s(self) -> float:
        """How often to ask :meth:`due`: a quarter of the timeout, so a round is at most that late."""
        return max(0.25, min(self.timeout_s / 4, 30.0))

    def connected(self, now: float) -> None:
        self._connected_at = now
        self._next_round = now + self.timeout_s

    def disconnected(self) -> None:
        self._connected_at = None

    def confirmed(self) -> None:
        """Central confirmed something: it is storing again, so the next round waits the base timeout."""
        self._heard = True
        self.wait_s = self.timeout_s

    def due(self, now: float) -> float | None:
        """The age after which a sent report counts as unconfirmed, if a round should run now; else None."""
        if self._connected_at is None or now < self._next_round:
            return None
        return self.wait_s

    def ran(self, now: float, requeued: bool) -> None:
        """A round ran; if it found reports to resend and central said nothing since the last, back off."""
        if requeued and not self._heard:
            self.wait_s = min(self.wait_s * 2, self.max_s)
        self._heard = False
        self._next_round = now + self.check_every_s


class Confirmations:
    """Loop thread only: applies central's confirmations to the outbox and runs the resend rounds."""

    def __init__(self, agent: str, outbox: Outbox, timeout_s: float, max_s: float,
                 resend_from: Callable[[int], None]) -> None:
        self.agent = agent
        self.outbox = outbox
        self.clock = ResendClock(timeout_s, max_s)
        self._resend_from = resend_from
        self.confirmed = 0  # reports central confirmed stored (this process)
        self.resent = 0  # reports sent again because no confirmation came in time

    def received(self, stored: ReportsStored) -> None:
        if stored.agent != self.agent:  # the codec checked it against the topic; the topic is ours
            log.warning("ignoring a confirmation for agent %r", stored.agent)
            return
        try:
            self.confirmed += self.outbox.confirm(stored.msg_ids)
        except OutboxUnavailable:
            return  # logged by the outbox; the reports stay, and their resend is confirmed later
        self.clock.confirmed()

    async def resend_rounds(self) -> None:
        """Put the reports central has not confirmed in time back in the queue, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.clock.check_every_s)
            try:
                self._round(loop.time())
            except OutboxUnavailable:
                pass  # logged by the outbox; the next round tries again
            except Exception:
                log.exception("requeueing unconfirmed reports failed; trying again next round")

    def _round(self, now: float) -> None:
        older_than = self.clock.due(now)
        if older_than is None:
            return
        requeued = self.outbox.resend_unconfirmed(older_than)
        self.clock.ran(now, requeued is not None)
        if requeued is None:
            return
        first_seq, count = requeued
        self.resent += count
        log.warning("central has not confirmed storing %d report(s) within %.0f s of the broker accepting them; "
                    "sending them again (the next round waits %.0f s)", count, older_than, self.clock.wait_s)
        self._resend_from(first_seq)
