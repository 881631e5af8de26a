"""The agent's retained availability messages: the birth on every connect, the last will, the shutdown notice.

The birth and the will are built in paho's network thread (on connect, on disconnect), which must not
touch the outbox: it belongs to the loop thread, and a failing disk would raise into paho. So their
seq/msg_id pairs are allocated ahead on the loop thread (:meth:`Availability.refill`) and taken from
a deque, whose append and popleft are atomic. Each message gets a fresh msg_id: central deduplicates
on msg_id, so a reused one would hide the second outage.
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Callable
from typing import Literal

from edge_agent import __version__
from edge_agent.outbox import Outbox
from shared import topics
from shared.codec import encode
from shared.messages import AgentBirth, AgentOffline, new_message_id, utc_now
from shared.mqtt import Will

# Birth and will ids kept allocated ahead for paho's thread; one reconnect uses one of each.
SPARE_IDS = 4


class Availability:
    """Builds the agent's availability payloads; ``refill`` on the loop thread, the rest from any thread
    except :meth:`goodbye` (loop thread: it allocates from the outbox)."""

    def __init__(self, agent: str, outbox: Outbox, cameras_configured: Callable[[], int],
                 websites_configured: Callable[[], int]) -> None:  # fmt: skip
        self.agent = agent
        self.outbox = outbox
        self.topic = topics.availability(agent)
        self.started_at = utc_now()
        self._cameras_configured = cameras_configured
        self._websites_configured = websites_configured
        self._spare_ids: collections.deque[tuple[int, str]] = collections.deque()
        self._last_seq = 0
        self.refill()

    def refill(self) -> None:
        """Loop thread only: top up the ids paho's callbacks take (allocate never raises)."""
        while len(self._spare_ids) < SPARE_IDS:
            seq, msg_id = self.outbox.allocate()
            self._last_seq = seq
            self._spare_ids.append((seq, msg_id))

    def _take_id(self) -> tuple[int, str]:
        """Any thread: a pre-allocated seq and msg_id, without touching the outbox."""
        try:
            return self._spare_ids.popleft()
        except IndexError:
            # Reconnects faster than the loop refills: a repeated seq is harmless for availability,
            # a fresh msg_id is what keeps the second outage from being deduplicated away.
            return self._last_seq, new_message_id()

    def will(self, reason: Literal["connection_lost", "shutdown"]) -> Will:
        """The last will for the next connection (a fresh msg_id per connection)."""
        seq, msg_id = self._take_id()
        message = AgentOffline(agent=self.agent, seq=seq, msg_id=msg_id, ts=utc_now(), reason=reason)
        return Will(self.topic, encode(message), retain=True)

    def birth(self) -> bytes:
        """The birth published on every connect: version, host, start time and what is configured."""
        seq, msg_id = self._take_id()
        return encode(AgentBirth(
            agent=self.agent, seq=seq, msg_id=msg_id, ts=utc_now(), agent_version=__version__,
            hostname=socket.gethostname()[:256], started_at=self.started_at,
            cameras_configured=self._cameras_configured(), websites_configured=self._websites_configured(),
        ))  # fmt: skip

    def goodbye(self) -> bytes:
        """Loop thread: the 'shutdown' notice a clean stop publishes in place of the will."""
        seq, msg_id = self.outbox.allocate()
        return encode(AgentOffline(agent=self.agent, seq=seq, msg_id=msg_id, ts=utc_now(), reason="shutdown"))
