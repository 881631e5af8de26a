"""Vetting a batch before any database work: decode, bind the sender to its regency, refuse the implausible.

Every message leaves as accepted, rejected (to quarantine, with the reason) or ignored (central's own
commands echoed back, the same message twice in one batch, an empty retained message: a clear). Nothing
here raises on bad input. A retained message the contract does not allow is marked (``retention.py``).

Time: a report stamped more than ``max_clock_skew_s`` ahead of its receipt is refused
(``clock_ahead``); one within the allowance counts as received now (``Accepted.ts``), and how far
ahead each agent stamps is measured here for its page and the clock alert.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from central.ingest import retention
from central.ingest.agents import AgentDirectory
from central.ingest.batch import Accepted, Received, Rejected, Vetted
from shared import topics
from shared.codec import DecodeError, decode, retention_refusal
from shared.messages import Command, Envelope

INT64_MAX = 2**63 - 1


def vet(batch: Sequence[Received], directory: AgentDirectory, max_clock_skew_s: int) -> Vetted:
    """Accepted, rejected and ignored messages of ``batch`` (in its order), and whose clock runs ahead."""
    vetted = Vetted()
    accepted, rejected, clock = vetted.accepted, vetted.rejected, vetted.clock_ahead
    seen: set[tuple[str, str]] = set()
    skew = dt.timedelta(seconds=max_clock_skew_s)
    retained: dict[int, str] = {}  # id(item) -> why the contract does not let it be retained
    directory.refresh()
    for item in batch:
        if item.retain:
            if not item.payload:
                vetted.ignored += 1  # a cleared retained message (central's own clear, or the agent's): no report
                continue
            why = retention_refusal(item.topic, len(item.payload))
            if why and retention.is_live(item.topic):  # a live frame is never a report: not even decoded
                rejected.append(Rejected(item, retention.RETAINED_FORBIDDEN, f"{why}; {retention.CLEARED}",
                                         agent_from_topic(item.topic)))
                continue
            if why:
                retained[id(item)] = why
        result = decode(item.topic, item.payload)
        if isinstance(result, DecodeError):
            rejected.append(Rejected(item, "decode", result.reason, agent_from_topic(item.topic)))
            continue
        message = result.message
        if isinstance(message, Command):
            vetted.ignored += 1  # central's own commands, echoed by the agents/# subscription
            continue
        agent = result.topic.agent
        assert agent is not None  # every agent channel carries one
        assert isinstance(message, Envelope)  # agent channels carry agent messages only
        verdict = directory.verdict(agent)
        if verdict.regency is None:
            refusal = verdict.refusal.value if verdict.refusal else "unknown_agent"
            rejected.append(Rejected(item, refusal, f"agent {agent!r}: {refusal}", agent, message.msg_id))
            continue
        received_at = item.received_at
        ts = message.ts
        ahead = (ts - received_at).total_seconds()
        if ahead > clock.get(agent, -math.inf):
            clock[agent] = ahead
        if ts > received_at + skew:
            reason = (f"field 'ts': {ts.isoformat()} is {ts - received_at} ahead of central's clock, more than the "
                      f"{skew} allowed (ingest.max_clock_skew_s): the agent's clock is off")
            rejected.append(Rejected(item, "clock_ahead", reason, agent, message.msg_id))
            continue
        problem = _out_of_range(message)
        if problem:
            rejected.append(Rejected(item, "implausible", problem, agent, message.msg_id))
            continue
        key = (agent, message.msg_id)
        if key in seen:
            vetted.ignored += 1  # the same message twice in one batch: a redelivery
            continue
        seen.add(key)
        accepted.append(Accepted(item, result, verdict.regency, message, ts if ts <= received_at else received_at))
    if retained:
        retention.mark(vetted, retained)
    return vetted


def _out_of_range(message: Envelope) -> str:
    """What is wrong with the first value no column can hold (beyond int64, NaN/infinity, year 9999)."""
    # vars() and exact type tests: this runs for every message, and pydantic's __iter__ is slower.
    for name, value in vars(message).items():
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int or (kind is not float and isinstance(value, int) and not isinstance(value, bool)):
            if not -INT64_MAX <= value <= INT64_MAX:
                return f"field {name!r}: integer out of range"
        elif kind is float or isinstance(value, float):
            if not math.isfinite(value):
                return f"field {name!r}: not a finite number"
        elif isinstance(value, dt.datetime) and not 1 <= value.year <= 9998:
            return f"field {name!r}: date out of range"
    return ""


def agent_from_topic(topic: str) -> str | None:
    """The agent a topic names, if it names a well-formed one (for quarantine rows of undecodable messages)."""
    parts = topic.split("/")
    if len(parts) >= 4 and parts[:2] == ["scc", "v1"] and parts[2] in ("agents", "live") \
            and topics.is_identifier(parts[3]):
        return parts[3]
    return None
