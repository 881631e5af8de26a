"""The status decision: offline needs two independent signals for N cycles in a row; a wrong password never."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from edge_agent.status import SIGNAL_GROUPS, Decision, decide, hard_down
from shared.messages import CameraState, CheckOutcome, Outcome
from shared.reasons import CAMERA as REASONS
from shared.reasons import DOWN_REASONS

CHECKS = ("reachable", "onvif", "clock", "credentials", "snapshot", "image", "rtsp", "stream")


def cycle(**problems: tuple[Outcome, str]) -> list[CheckOutcome]:
    """A full cycle's outcomes: every check ok unless named, e.g. ``onvif=(FAIL, "onvif_timeout")``."""
    outcomes = []
    for check in CHECKS:
        result, reason = problems.get(check, (Outcome.OK, "ok"))
        outcomes.append(CheckOutcome(check=check, outcome=result, reason=reason, message=f"{check}: {reason}"))
    return outcomes


FAIL, WARN, SKIP = Outcome.FAIL, Outcome.WARN, Outcome.SKIPPED
SKIPPED = (SKIP, "skipped")

# The camera is gone: the port is closed and nothing above it answers.
POWERED_OFF = cycle(reachable=(FAIL, "unreachable"), onvif=(FAIL, "onvif_timeout"), clock=SKIPPED,
                    credentials=SKIPPED, snapshot=(FAIL, "snapshot_unreachable"), image=SKIPPED,
                    rtsp=(FAIL, "rtsp_unreachable"), stream=SKIPPED)
# Alive, but the installer changed the password: every application signal refuses us.
WRONG_PASSWORD = cycle(credentials=(FAIL, "auth_failed"), snapshot=(FAIL, "snapshot_auth_failed"), image=SKIPPED,
                       rtsp=(FAIL, "rtsp_auth_failed"), stream=SKIPPED)


def run(cycles: Sequence[list[CheckOutcome]], offline_after: int = 3) -> list[Decision]:
    decisions, failures = [], 0
    for outcomes in cycles:
        decision = decide(outcomes, failures, offline_after)
        failures = decision.consecutive_failures
        decisions.append(decision)
    return decisions


def test_all_checks_passing_is_ok() -> None:
    assert run([cycle()]) == [Decision(CameraState.OK, "ok", "all checks passed", 0)]


def test_offline_only_after_n_consecutive_hard_failures() -> None:
    decisions = run([POWERED_OFF] * 4, offline_after=3)
    assert [d.state for d in decisions] == [CameraState.DEGRADED, CameraState.DEGRADED, CameraState.OFFLINE,
                                            CameraState.OFFLINE]
    assert [d.consecutive_failures for d in decisions] == [1, 2, 3, 4]
    assert all(d.reason == "unreachable" for d in decisions)
    assert "failed 1/3 before offline" in decisions[0].message
    assert "3 consecutive failed checks" in decisions[2].message


def test_one_good_cycle_resets_the_count() -> None:
    decisions = run([POWERED_OFF, POWERED_OFF, cycle(), POWERED_OFF, POWERED_OFF], offline_after=3)
    assert [d.consecutive_failures for d in decisions] == [1, 2, 0, 1, 2]
    assert CameraState.OFFLINE not in {d.state for d in decisions}


@pytest.mark.parametrize("offline_after", [1, 2, 5])
def test_offline_after_is_configurable(offline_after: int) -> None:
    decisions = run([POWERED_OFF] * offline_after, offline_after=offline_after)
    assert [d.state is CameraState.OFFLINE for d in decisions] == [False] * (offline_after - 1) + [True]


def test_a_wrong_password_never_counts_as_offline() -> None:
    decisions = run([WRONG_PASSWORD] * 10, offline_after=2)
    assert {(d.state, d.reason, d.consecutive_failures) for d in decisions} == {
        (CameraState.DEGRADED, "auth_failed", 0)}
    assert not any(REASONS[code].down for code in ("auth_failed", "snapshot_auth_failed", "rtsp_auth_failed"))


@pytest.mark.parametrize(("name", "outcomes", "down"), [
    # One signal group failing is not enough evidence, however hard it fails.
    ("ONVIF times out, rest fine", cycle(onvif=(FAIL, "onvif_timeout"), clock=SKIPPED, credentials=SKIPPED), False),
    ("RTSP server dead, rest fine", cycle(rtsp=(FAIL, "rtsp_unreachable"), stream=SKIPPED), False),
    # Two failures inside one group are one piece of evidence.
    ("RTSP open and decode both time out", cycle(rtsp=(FAIL, "rtsp_timeout"), stream=(FAIL, "rtsp_timeout")), False),
    # Two independent groups with nothing answering: down.
    ("ONVIF and RTSP time out, snapshot never tried",
     cycle(onvif=(FAIL, "onvif_timeout"), clock=SKIPPED, credentials=SKIPPED, snapshot=SKIPPED, image=SKIPPED,
           rtsp=(FAIL, "rtsp_timeout"), stream=SKIPPED), True),
    ("port closed and ONVIF silent",
     cycle(reachable=(FAIL, "unreachable"), onvif=(FAIL, "onvif_no_answer"), clock=SKIPPED, credentials=SKIPPED,
           snapshot=SKIPPED, image=SKIPPED, rtsp=SKIPPED, stream=SKIPPED), True),
    # ...but any application group that answered proves the camera alive.
    ("ONVIF and RTSP time out but the snapshot arrives",
     cycle(onvif=(FAIL, "onvif_timeout"), clock=SKIPPED, credentials=SKIPPED, rtsp=(FAIL, "rtsp_timeout"),
           stream=SKIPPED), False),
    ("ONVIF and RTSP down, snapshot answers 500",
     cycle(onvif=(FAIL, "onvif_timeout"), clock=SKIPPED, credentials=SKIPPED,
           snapshot=(FAIL, "snapshot_http_error"), image=SKIPPED, rtsp=(FAIL, "rtsp_timeout"), stream=SKIPPED),
     False),
    # "Nothing there" answers prove neither life nor death.
    ("ONVIF and snapshot time out, no RTSP URI",
     cycle(onvif=(FAIL, "onvif_timeout"), clock=SKIPPED, credentials=SKIPPED, snapshot=(FAIL, "snapshot_timeout"),
           image=SKIPPED, rtsp=(WARN, "rtsp_unavailable"), stream=SKIPPED), True),
    # A slow answer is an answer.
    ("slow but answering", cycle(onvif=(WARN, "slow_response"), snapshot=(WARN, "slow_response")), False),
    ("image faults are alive", cycle(image=(FAIL, "black"), stream=(FAIL, "rtsp_no_frames")), False),
])
def test_hard_down_needs_two_independent_signals(name: str, outcomes: list[CheckOutcome], down: bool) -> None:
    assert hard_down(outcomes) is down, name


def test_evidence_is_only_down_reasons_of_known_groups() -> None:
    assert set(SIGNAL_GROUPS) <= set(CHECKS)
    assert {"unreachable", "onvif_timeout", "rtsp_timeout", "snapshot_timeout"} <= DOWN_REASONS
    assert not DOWN_REASONS & {"auth_failed", "black", "frozen", "slow_response", "clock_skew", "onvif_malformed"}
    # "clock" and "image" are no signal groups: their failures never add evidence.
    assert not hard_down(cycle(clock=(FAIL, "onvif_timeout"), image=(FAIL, "snapshot_timeout")))


@pytest.mark.parametrize(("outcomes", "state", "reason"), [
    (cycle(clock=(WARN, "clock_skew")), CameraState.DEGRADED, "clock_skew"),
    (cycle(onvif=(WARN, "slow_response")), CameraState.DEGRADED, "slow_response"),
    # A failure outranks a warning, whatever the codes.
    (cycle(clock=(WARN, "clock_skew"), image=(FAIL, "dark")), CameraState.DEGRADED, "dark"),
    # Among failures the one an operator acts on first: black before dark, the network before the image.
    (cycle(image=(FAIL, "dark"), stream=(FAIL, "black")), CameraState.DEGRADED, "black"),
    (cycle(reachable=(FAIL, "rtsp_port_closed"), image=(FAIL, "black")), CameraState.DEGRADED, "rtsp_port_closed"),
    (cycle(credentials=(FAIL, "auth_failed"), image=(FAIL, "frozen")), CameraState.DEGRADED, "auth_failed"),
    # Skipped checks alone are no problem.
    (cycle(stream=SKIPPED), CameraState.OK, "ok"),
])
def test_status_reason_is_the_most_actionable(outcomes: list[CheckOutcome], state: CameraState,
                                             reason: str) -> None:
    decision = decide(outcomes, 0, 3)
    assert (decision.state, decision.reason, decision.consecutive_failures) == (state, reason, 0)
    assert reason in REASONS
