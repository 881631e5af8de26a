"""The overall camera status from one cycle's check outcomes and the camera's recent history.

False "offline" alarms are the operators' top complaint, so offline is deliberately hard to reach:
it needs hard-down evidence (timeouts, refused connections; ``down`` in ``shared/reasons.py``) from at
least two independent signal groups in the same cycle, with no group answering, for
``offline_after`` consecutive cycles. A wrong password fails ONVIF, snapshot and RTSP at once but
proves the camera is alive, so it is never evidence of offline. Until the count is reached, a
camera with hard failures is "degraded" with the failure's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.messages import CameraState, CheckOutcome, Outcome
from shared.reasons import DOWN_REASONS, PRIORITY

# Checks grouped by what they depend on: two failures inside a group are one piece of evidence.
SIGNAL_GROUPS: dict[str, str] = {
    "reachable": "network",
    "onvif": "onvif",
    "credentials": "onvif",
    "snapshot": "snapshot",
    "rtsp": "rtsp",
    "stream": "rtsp",
}
# A TCP handshake proves little (many cameras keep the port open with a dead application), so
# only these groups count as evidence the camera is alive.
_APPLICATION_GROUPS = frozenset({"onvif", "snapshot", "rtsp"})
# "Nothing there" answers (no URI, stream unknown to the server) prove neither life nor death: a
# camera's RTSP path can vanish behind a recorder or proxy that keeps answering for it.
_NEUTRAL_REASONS = frozenset({"rtsp_unavailable", "snapshot_unavailable", "skipped"})

# When several checks complain, the status carries the reason an operator should act on first
# (shared/reasons.py lists the codes in that order).
_RANK = {code: index for index, code in enumerate(PRIORITY)}


@dataclass(frozen=True, slots=True)
class Decision:
    state: CameraState
    reason: str
    message: str
    consecutive_failures: int


def hard_down(outcomes: Sequence[CheckOutcome]) -> bool:
    """Two independent groups failed with down-type reasons and no application group answered."""
    down_groups: set[str] = set()
    alive_groups: set[str] = set()
    for outcome in outcomes:
        group = SIGNAL_GROUPS.get(outcome.check)
        if group is None:
            continue
        if outcome.outcome is Outcome.FAIL and outcome.reason in DOWN_REASONS:
            down_groups.add(group)
        elif group in _APPLICATION_GROUPS and outcome.reason not in _NEUTRAL_REASONS and (
            outcome.outcome is not Outcome.SKIPPED
        ):
            alive_groups.add(group)
    return len(down_groups) >= 2 and not alive_groups


def _worst(outcomes: Sequence[CheckOutcome]) -> CheckOutcome | None:
    problems = [o for o in outcomes if o.outcome in (Outcome.FAIL, Outcome.WARN)]
    if not problems:
        return None
    return min(
        problems,
        key=lambda o: (0 if o.outcome is Outcome.FAIL else 1, _RANK.get(o.reason, len(_RANK))),
    )


def decide(outcomes: Sequence[CheckOutcome], previous_failures: int, offline_after: int) -> Decision:
    """Status for this cycle; ``previous_failures`` is the consecutive hard-down count so far."""
    failures = previous_failures + 1 if hard_down(outcomes) else 0
    worst = _worst(outcomes)
    if worst is None:
        return Decision(CameraState.OK, "ok", "all checks passed", 0)
    if failures >= offline_after:
        message = f"offline: {worst.message} ({failures} consecutive failed checks)"
        return Decision(CameraState.OFFLINE, worst.reason, message, failures)
    if failures:
        message = f"{worst.message} (failed {failures}/{offline_after} before offline)"
        return Decision(CameraState.DEGRADED, worst.reason, message, failures)
    return Decision(CameraState.DEGRADED, worst.reason, worst.message, 0)
