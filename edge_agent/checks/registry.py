"""The one list of camera checks, and the runner that orders them by their needs and runs the rest at once."""

from __future__ import annotations

import asyncio
import logging
import time

from edge_agent.checks.base import Check, CheckContext, outcome, skipped
from edge_agent.checks.onvif import Clock, Credentials, OnvifAnswers
from edge_agent.checks.reachable import Reachable
from edge_agent.checks.rtsp import RtspAnswers
from edge_agent.checks.snapshot import Image, Snapshot
from edge_agent.checks.stream import StreamDecodes
from edge_agent.scrub import scrub
from shared.messages import CheckOutcome, Outcome

log = logging.getLogger(__name__)

# Adding a check: write a class with name/requires/after/run in its own module and list it here.
CHECKS: tuple[Check, ...] = (
    Reachable(),
    OnvifAnswers(),
    Clock(),
    Credentials(),
    Snapshot(),
    Image(),
    RtspAnswers(),
    StreamDecodes(),
)
CHECK_NAMES = tuple(check.name for check in CHECKS)


def _validate(checks: tuple[Check, ...]) -> None:
    known: set[str] = set()
    for check in checks:
        missing = [name for name in (*check.requires, *check.after) if name not in known]
        if missing:
            raise RuntimeError(f"check {check.name!r} needs {missing}, which must be listed before it")
        known.add(check.name)


_validate(CHECKS)


async def run_checks(ctx: CheckContext, checks: tuple[Check, ...] = CHECKS) -> list[CheckOutcome]:
    """Every check once, each as soon as what it needs is done; a crashing check is a result, not a crash."""
    done = {check.name: asyncio.Event() for check in checks}

    async def run_one(check: Check) -> None:
        try:
            for name in (*check.requires, *check.after):
                await done[name].wait()
            failed = [name for name in check.requires
                      if ctx.results[name].outcome not in (Outcome.OK, Outcome.WARN)]
            if failed:
                ctx.results[check.name] = skipped(check.name, f"needs {', '.join(failed)}")
                return
            started = time.monotonic()
            try:
                ctx.results[check.name] = await check.run(ctx)
            except Exception as error:
                log.exception("%s: check %s crashed", ctx.target.camera_id, check.name)
                ctx.results[check.name] = outcome(check.name, Outcome.FAIL, "internal_error",
                                                  scrub(f"{type(error).__name__}: {error}"), started=started)
        finally:
            done[check.name].set()

    await asyncio.gather(*(run_one(check) for check in checks))
    return [ctx.results[check.name] for check in checks]
