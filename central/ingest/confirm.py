"""Tell each agent which of its reports a committed batch holds, so its outbox can forget them.

After every commit (and the PUBACKs) the worker publishes one ``reports_stored`` per agent in the
batch on ``scc/v1/confirmations/<agent>`` (QoS 1, not retained; the agent's persistent session
keeps it while the agent is away). Redeliveries already stored and quarantined reports are confirmed
too: sending them again cannot change their fate. A confirmation that is lost (broker crash, ingest
disconnected) costs only a resend, which the dedupe drops and confirms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from shared import topics
from shared.codec import encode
from shared.messages import MAX_CONFIRMED_IDS, ReportsStored, new_message_id


def confirmations(durable_ids: dict[str, list[str]], now: dt.datetime) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of every confirmation for one committed batch, at most MAX_CONFIRMED_IDS ids each."""
    for agent, ids in durable_ids.items():
        for start in range(0, len(ids), MAX_CONFIRMED_IDS):
            # Built without validation: every id and agent name comes from a message that passed the codec.
            message = ReportsStored.model_construct(msg_id=new_message_id(), agent=agent, ts=now,
                                                    msg_ids=ids[start:start + MAX_CONFIRMED_IDS])
            yield topics.confirmations(agent), encode(message)
