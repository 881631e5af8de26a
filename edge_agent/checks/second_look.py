"""The second look: a healthy-looking snapshot fetched again seconds later, so a freeze shows at once.

Comparing the snapshots of consecutive checks finds a freeze at the second check after it starts (the
first check's snapshot still differs from the live one before it): one to two intervals late (issue
#20). The second look compares two snapshots of the same check, ``[schedule] second_look_s`` apart,
by the strict rule ``imaging.identical`` (same bytes or the same decoded pixels), so a freeze shows at
the first check after it, ``second_look_s`` later.

Why snapshots and not the frames of one RTSP decode (tried in 908e695 and withdrawn in 35f693e, see
docs/operations.md): the decode window's rule was the loose one across checks (mean change, motion
veto) on frames ~1-2 s apart, where an H.264 encoder sends still parts as skipped blocks and a loaded
simulator's frame pump catches up in bursts; and decodes run only every ~10-20 min per camera. Two
JPEG snapshots are independent captures, and the strict rule only says yes to the very same picture.

Cost, when it is on: one more snapshot fetch and reduced decode per check of a camera whose first
snapshot looked healthy (black, covered, dark, blurred or already frozen pictures are not looked at
again). The wait between the two holds no check slot (the scheduler sleeps outside it), so it adds
``second_look_s`` to a camera's cycle, not to the fleet's (200 cameras: 3-5 ms more agent CPU per
check, the same cycle wall time; docs/operations.md).
A second fetch that fails is no evidence: the first outcome stands, and the next check's snapshot
check reports the failure.
"""

from __future__ import annotations

import logging
import time

import httpx

from edge_agent import imaging
from edge_agent.checks.base import CheckContext
from edge_agent.checks.snapshot import (
    Analysed,
    BasicRefused,
    Image,
    Snapshot,
    SnapshotTooLarge,
    analyse,
    image_outcome,
)
from shared.messages import CheckOutcome, Outcome

log = logging.getLogger(__name__)


def wanted(ctx: CheckContext) -> bool:
    """Whether this cycle's snapshot deserves a second look: on, and its picture judged healthy."""
    image = ctx.results.get(Image.name)
    return (ctx.config.schedule.second_look_s > 0 and ctx.artifacts.snapshot is not None
            and bool(ctx.artifacts.snapshot_url) and image is not None and image.outcome == Outcome.OK)


async def look_again(ctx: CheckContext, first_at: float) -> CheckOutcome | None:
    """Fetch the snapshot again now and compare; the image outcome to report instead (frozen), or None.

    ``first_at`` is the monotonic time the cycle's checks ended (the first snapshot is older still).
    The newer snapshot becomes the one the next check compares with. Never raises: a crash here must
    not cost the cycle its report (the registry does the same for the checks).
    """
    try:
        return await _look_again(ctx, first_at)
    except Exception:
        log.exception("%s: the second look at the snapshot crashed; the first one stands", ctx.target.camera_id)
        return None


async def _look_again(ctx: CheckContext, first_at: float) -> CheckOutcome | None:
    first = ctx.artifacts.snapshot
    if first is None:
        return None
    try:
        response = await Snapshot().fetch(ctx, ctx.artifacts.snapshot_url, ctx.config.timeouts.snapshot_s)
    except (TimeoutError, httpx.HTTPError, SnapshotTooLarge, BasicRefused):
        return None
    if response.status >= 300 or not imaging.is_jpeg(response.body):
        return None
    second: Analysed | None = await ctx.in_thread(analyse, response.body, first.signature)
    if second is None:
        return None
    ctx.runtime.previous_signature = second.signature
    if not imaging.identical(first.jpeg, second.jpeg, first.gray, second.gray):
        return None
    return image_outcome(first, ctx.config.thresholds, still_for=time.monotonic() - first_at)
