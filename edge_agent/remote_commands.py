"""Commands from central (check_now, rediscover, thumbnail_now), each answered with a CommandResult.

live_start, live_stop and snapshot_now go to the live view (edge_agent.live_view) and are not answered
here: the live topic itself says how the stream (or the still) goes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from edge_agent.scheduler import CycleResult, Scheduler
from shared.messages import Command, CommandName, CommandResult, DetailValue, utc_now

log = logging.getLogger(__name__)

Rediscover = Callable[[], Awaitable[int]]
Answer = Callable[[Callable[[int, str], CommandResult]], None]
Live = Callable[[Command], None]
LIVE_COMMANDS = frozenset({CommandName.LIVE_START, CommandName.LIVE_STOP, CommandName.SNAPSHOT_NOW})


class CommandHandler:
    def __init__(self, agent: str, scheduler: Scheduler, rediscover: Rediscover, answer: Answer, live: Live) -> None:
        self.agent = agent
        self.scheduler = scheduler
        self.rediscover = rediscover
        self.answer = answer
        self.live = live

    async def __call__(self, command: Command) -> None:
        if command.name in LIVE_COMMANDS:
            self.live(command)
            return
        log.info("command %s (%s) for %s from %s", command.name.value, command.command_id,
                 command.camera_id or "all cameras", command.requested_by or "central")
        details: dict[str, DetailValue] = {}
        try:
            if command.name is CommandName.REDISCOVER:
                count = await self.rediscover()
                ok, message = True, f"discovery finished: {count} camera(s) known"
                details["cameras"] = count
            else:
                results = await self.scheduler.check_now(
                    command.camera_id, thumbnail=command.name is CommandName.THUMBNAIL_NOW)
                ok, message, details = True, _summary(results, command.name), _details(results)
        except KeyError:
            ok, message = False, f"unknown camera {command.camera_id!r}"
        except Exception as error:  # a command must always be answered
            log.exception("command %s failed", command.command_id)
            ok, message = False, f"{type(error).__name__}: {error}"[:2048]

        def build(seq: int, msg_id: str) -> CommandResult:
            return CommandResult(agent=self.agent, seq=seq, msg_id=msg_id, ts=utc_now(),
                                 command_id=command.command_id, name=command.name, ok=ok, message=message,
                                 details=details)
        self.answer(build)


def _summary(results: list[CycleResult], name: CommandName) -> str:
    states = Counter(r.decision.state.value for r in results)
    text = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    if name is CommandName.THUMBNAIL_NOW:
        sent = sum(1 for r in results if r.thumbnail is not None)
        return f"checked {len(results)} camera(s) ({text}); {sent} thumbnail(s) sent"
    return f"checked {len(results)} camera(s): {text}"


def _details(results: list[CycleResult]) -> dict[str, DetailValue]:
    # At most 64 details on the wire: per-camera status for small sets, counts otherwise.
    if len(results) <= 60:
        return {r.target.camera_id: r.decision.state.value for r in results}
    return dict(Counter(r.decision.state.value for r in results))
