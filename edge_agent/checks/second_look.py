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

Not every camera makes a fresh picture per request: some serve a snapshot refreshed once a second or
per keyframe (a GOP of several seconds), and two looks seconds apart then get the same bytes from a
live camera. So "the same picture twice" means frozen only for a camera whose snapshot has been seen to
change within ``second_look_s`` (trusted, earned at its first healthy check). A camera the second look
called frozen, which the comparison across checks then saw move while the second look again saw it
still, serves a cached snapshot: its second look is off for good (one log line), and the comparison
across checks alone finds its freezes (:func:`verdict`). Such a camera can cost one check's false
"frozen" before it is known, far shorter than any alert's delay.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum

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
    """Whether this cycle's snapshot deserves a second look: on, its picture judged healthy, and the
    camera not known to serve a cached snapshot."""
    image = ctx.results.get(Image.name)
    return (ctx.config.schedule.second_look_s > 0 and ctx.artifacts.snapshot is not None
            and bool(ctx.artifacts.snapshot_url) and image is not None and image.outcome == Outcome.OK
            and ctx.runtime.second_look_trust != Trust.CACHED)


def skipped(ctx: CheckContext) -> None:
    """This cycle had no second look: a frozen from an earlier one is no longer the last cycle's."""
    ctx.runtime.second_look_froze = False


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
    same = imaging.identical(first.jpeg, second.jpeg, first.gray, second.gray)
    runtime = ctx.runtime
    frozen, trust = verdict(same, Trust(runtime.second_look_trust), runtime.second_look_froze)
    if trust is Trust.CACHED:
        log.warning("%s: its snapshot stays the same for %.0f s while the picture moves between checks (a "
                    "cached snapshot); its freezes are found by comparing checks only", ctx.target.camera_id,
                    ctx.config.schedule.second_look_s)
    runtime.second_look_trust, runtime.second_look_froze = trust.value, frozen
    if not frozen:
        return None
    return image_outcome(first, ctx.config.thresholds, still_for=time.monotonic() - first_at)


class Trust(StrEnum):
    UNPROVEN = "unproven"  # its snapshot has not yet changed within the wait
    TRUSTED = "trusted"  # it has: the same picture twice means frozen
    CACHED = "cached"  # it serves a cached snapshot: no second look


def verdict(same: bool, trust: Trust, froze_last_cycle: bool) -> tuple[bool, Trust]:
    """(frozen, trust from now on) for a second look that found the ``same`` picture or not.

    Called only when this cycle's first snapshot looked healthy, which includes "moved since the last
    check": so ``froze_last_cycle`` with ``same`` again means the picture moved between checks and not
    within seconds, twice running: a cached snapshot, not a freeze (a real freeze is unchanged across
    checks too, and never gets here).

    | same | trust | froze last cycle | frozen | trust after |
    |---|---|---|---|---|
    | no  | unproven, trusted | any | no  | trusted: the snapshot changes within the wait |
    | yes | unproven | any | no  | unproven: maybe cached; the comparison across checks decides |
    | yes | trusted | no  | yes | trusted |
    | yes | trusted | yes | no  | cached, for good |
    | any | cached | any | no | cached (not asked: see ``wanted``) |
    """
    if trust is Trust.CACHED:
        return False, Trust.CACHED
    if not same:
        return False, Trust.TRUSTED
    if trust is Trust.UNPROVEN:
        return False, Trust.UNPROVEN
    if froze_last_cycle:
        return False, Trust.CACHED
    return True, Trust.TRUSTED
