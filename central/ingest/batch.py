"""What a batch of received messages is made of, between the network thread, the vetting and the handlers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.codec import Decoded
from shared.messages import Envelope

M = TypeVar("M", bound=Envelope)


@dataclass(slots=True)
class Received:
    """One MQTT message as the network thread handed it over."""

    topic: str
    payload: bytes
    received_at: dt.datetime
    mid: int = 0
    qos: int = 1
    generation: int = 0
    # The PUBLISH's retain flag: the ingest subscribes with Retain-As-Published, so it is the publisher's
    # flag, or set for a message the broker holds retained and sent on (re)subscribe (retention.py).
    retain: bool = False


@dataclass(slots=True)
class Accepted(Generic[M]):
    """A message that passed vetting: its sender is a known agent of ``regency``.

    ``ts`` is when it happened as central counts it: the message's own ts, but never later than its
    receipt. Handlers order and store by it, so a report stamped ahead (a clock off by less than
    the allowance) can neither sit in the future nor shadow the reports that follow it.
    """

    item: Received
    decoded: Decoded
    regency: str
    message: M  # decoded.message, read ~15 times per report: an attribute, not a property
    ts: dt.datetime


@dataclass(slots=True)
class Rejected:
    """A message to quarantine under ``category`` (``reason`` says what is wrong and where)."""

    item: Received
    category: str
    reason: str
    agent: str | None
    msg_id: str | None = None  # when the payload decoded: its sender is told it will not be stored again


@dataclass(slots=True)
class Vetted:
    """A batch after vetting: what to store, what to quarantine, how many to ignore, whose clock is ahead.

    ``clock_ahead`` maps each known agent heard in the batch to the most seconds any of its messages
    was stamped ahead of its receipt (<= 0: not ahead), refused ones included. ``flagged`` are accepted
    messages retained against the contract: stored as reports, and also quarantined (with the reason)
    once, so the operator sees the agent retaining (retention.py).
    """

    accepted: list[Accepted[Envelope]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: int = 0
    clock_ahead: dict[str, float] = field(default_factory=dict)
    flagged: list[Rejected] = field(default_factory=list)


@dataclass(slots=True)
class BatchResult:
    """What a committed batch did; ``changed_regencies`` need a fresh public summary."""

    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: int = 0
    flagged: int = 0  # stored, and quarantined too as retained against the contract (retention.py)
    changed_regencies: set[str] = field(default_factory=set)
    changed_cameras: set[int] = field(default_factory=set)
    changed_websites: set[int] = field(default_factory=set)
    # agent -> msg_ids central holds for good once this batch committed (stored now or before, or
    # quarantined): what the ingest confirms to each agent after the commit.
    durable_ids: dict[str, list[str]] = field(default_factory=dict)
    # Topics holding a retained message central refused (retention.py): cleared after the commit.
    clear_retained: set[str] = field(default_factory=set)

    def add(self, other: BatchResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.ignored += other.ignored
        self.flagged += other.flagged
        self.changed_regencies |= other.changed_regencies
        self.changed_cameras |= other.changed_cameras
        self.changed_websites |= other.changed_websites
        for agent, ids in other.durable_ids.items():
            self.durable_ids.setdefault(agent, []).extend(ids)
        self.clear_retained |= other.clear_retained

    def held(self, agent: str | None, msg_id: str | None) -> None:
        """Record that ``msg_id`` of ``agent`` is durably held by central (once the batch commits)."""
        if agent and msg_id:
            self.durable_ids.setdefault(agent, []).append(msg_id)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The ingest settings the writer and its handlers follow (``[ingest]`` in central.toml)."""

    thumbnails_per_camera: int = 5
    max_clock_skew_s: int = 120
    republish: bool = True  # stage public camera/website state in the same transaction
    max_cameras_per_agent: int = 2000
    max_websites_per_agent: int = 500
    clock_flag_s: int = 30
    offline_grace_s: float = 60.0  # a lost link this short changes nothing (see apply/presence.py)
    agent_silence_s: float = 300.0  # an agent not heard from this long is offline (0: never; apply/presence.py)
    # central.toml [province] agents: their cameras and websites are filed under "16" on the public topics.
    province_agents: tuple[str, ...] = ()
