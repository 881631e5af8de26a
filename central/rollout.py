"""The rollout ladder: how far a regency's deployment has come, derived once for the web, API and public topics."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from central.storage.models import RolloutStage


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


def derive_stage(r: RolloutFacts) -> RolloutStage:
    """The furthest step the live data proves, floored at what operators recorded by hand.

    A recorded stage counts for what live data cannot show: a box installed (any recorded step from
    box_installed on) and sign-off (complete, or a completion date) once cameras and websites are in.
    """
    recorded = RolloutStage(r.stored_stage)
    cameras_done = r.cameras_reporting > 0 and r.cameras_reporting >= r.target_cameras
    websites_done = r.websites_reporting > 0 and r.websites_reporting >= r.target_websites
    if r.agents_total > 0 and r.last_seen_at is not None:
        if cameras_done and websites_done:
            done = r.completed_on is not None or recorded is RolloutStage.COMPLETE
            return RolloutStage.COMPLETE if done else RolloutStage.WEBSITES_INTEGRATED
        return RolloutStage.CAMERAS_INTEGRATED if cameras_done else RolloutStage.AGENT_ONLINE
    if recorded.step >= RolloutStage.BOX_INSTALLED.step:
        return RolloutStage.BOX_INSTALLED
    return RolloutStage.PLANNED
