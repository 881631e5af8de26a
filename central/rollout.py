"""The rollout ladder: how far a regency's deployment has come, derived once for the web, API and public topics."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Protocol

from central.storage.models import RolloutStage


class Stage(StrEnum):
    """The rollout ladder the tracker shows; each step implies the ones before it."""

    PLANNED = "planned"
    BOX_INSTALLED = "box_installed"
    AGENT_ONLINE = "agent_online"
    CAMERAS_INTEGRATED = "cameras_integrated"
    WEBSITES_INTEGRATED = "websites_integrated"
    COMPLETE = "complete"

    @property
    def step(self) -> int:
        return list(Stage).index(self)


class RolloutFacts(Protocol):
    """What the stage is derived from: live counts, targets and what operators recorded."""

    @property
    def agents_total(self) -> int: ...
    @property
    def last_seen_at(self) -> dt.datetime | None: ...
    @property
    def cameras_reporting(self) -> int: ...
    @property
    def websites_reporting(self) -> int: ...
    @property
    def target_cameras(self) -> int: ...
    @property
    def target_websites(self) -> int: ...
    @property
    def stored_stage(self) -> str: ...
    @property
    def completed_on(self) -> dt.date | None: ...


def derive_stage(r: RolloutFacts) -> Stage:
    """The furthest step the live data proves, floored at what operators recorded by hand."""
    cameras_done = r.cameras_reporting > 0 and r.cameras_reporting >= r.target_cameras
    websites_done = r.websites_reporting > 0 and r.websites_reporting >= r.target_websites
    if r.agents_total > 0 and r.last_seen_at is not None:
        if cameras_done and websites_done:
            done = r.completed_on is not None or r.stored_stage == RolloutStage.LIVE.value
            return Stage.COMPLETE if done else Stage.WEBSITES_INTEGRATED
        return Stage.CAMERAS_INTEGRATED if cameras_done else Stage.AGENT_ONLINE
    if r.stored_stage in (RolloutStage.INSTALLING.value, RolloutStage.PILOT.value, RolloutStage.LIVE.value):
        return Stage.BOX_INSTALLED
    return Stage.PLANNED
