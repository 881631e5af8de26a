"""Vetting a batch before any database work: decode, bind the sender to its regency, refuse the implausible.

Every message leaves as accepted, rejected (to quarantine, with the reason) or ignored (central's own
commands echoed back, or the same message twice in one batch). Nothing here raises on bad input.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from central.ingest.agents import AgentDirectory
from central.ingest.batch import Accepted, Received, Rejected
from shared import topics
from shared.codec import DecodeError, decode
from shared.messages import Command, Envelope

INT64_MAX = 2**63 - 1


def vet(
    batch: Sequence[Received], directory: AgentDirectory, max_clock_skew_s: int
) -> tuple[list[Accepted[Envelope]], list[Rejected], int]:
    """(accepted, rejected, how many ignored) for ``batch``, in its order."""
    accepted: list[Accepted[Envelope]] = []
    rejected: list[Rejected] = []
    ignored = 0
    seen: set[str] = set()
    skew = dt.timedelta(seconds=max_clock_skew_s)
    directory.refresh()
    for item in batch:
        result = decode(item.topic, item.payload)
        if isinstance(result, DecodeError):
            rejected.append(Rejected(item, "decode", result.reason, agent_from_topic(item.topic)))
            continue
        message = result.message
        if isinstance(message, Command):
            ignored += 1  # central's own commands, echoed by the agents/# subscription
            continue
        agent = result.topic.agent
        assert agent is not None  # every agent channel carries one
        assert isinstance(message, Envelope)  # agent channels carry agent messages only
        verdict = directory.verdict(agent)
        if verdict.regency is None:
            refusal = verdict.refusal.value if verdict.refusal else "unknown_agent"
            rejected.append(Rejected(item, refusal, f"agent {agent!r}: {refusal}", agent, message.msg_id))
            continue
        problem = _implausible(message, item.received_at, skew)
        if problem:
            rejected.append(Rejected(item, "implausible", problem, agent, message.msg_id))
            continue
        msg_id = message.msg_id
        if msg_id in seen:
            ignored += 1  # the same message twice in one batch: a redelivery
            continue
        seen.add(msg_id)
        accepted.append(Accepted(item, result, verdict.regency, message))
    return accepted, rejected, ignored


def _implausible(message: Envelope, received_at: dt.datetime, skew: dt.timedelta) -> str:
    if message.ts > received_at + skew:
        return f"field 'ts': {message.ts.isoformat()} is more than {skew} ahead of central's clock"
    problem = _out_of_range(message)
    return f"{problem}: out of the storable range" if problem else ""


def _out_of_range(message: Envelope) -> str:
    """The first number no column can hold (beyond int64, or a NaN/infinity in a numeric column)."""
    # vars() and exact type tests: this runs for every message, and pydantic's __iter__ is slower.
    for name, value in vars(message).items():
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int or (kind is not float and isinstance(value, int) and not isinstance(value, bool)):
            if not -INT64_MAX <= value <= INT64_MAX:
                return f"field {name!r}"
        elif kind is float or isinstance(value, float):
            if not math.isfinite(value):
                return f"field {name!r}"
        elif isinstance(value, dt.datetime) and not 1 <= value.year <= 9998:
            return f"field {name!r}"
    return ""


def agent_from_topic(topic: str) -> str | None:
    """The agent a topic names, if it names a well-formed one (for quarantine rows of undecodable messages)."""
    parts = topic.split("/")
    if len(parts) >= 4 and parts[:3] == ["scc", "v1", "agents"] and topics.is_identifier(parts[3]):
        return parts[3]
    return None
