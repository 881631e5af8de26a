"""run_checks directly, with fake checks: order by needs, skips when a need failed, a crash is a result."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from edge_agent.checks.base import CameraTarget, CheckContext, outcome
from edge_agent.checks.registry import CHECKS, _validate, run_checks
from shared.messages import CheckOutcome, Outcome


@dataclass
class FakeCheck:
    """A check that records when it ran and answers as told (the Home Assistant style of fake)."""

    name: str
    result: Outcome = Outcome.OK
    requires: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    crash: Exception | None = None
    delay_s: float = 0.0
    log: list[str] = field(default_factory=list)

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        self.log.append(f"start {self.name}")
        await asyncio.sleep(self.delay_s)
        if self.crash is not None:
            raise self.crash
        self.log.append(f"end {self.name}")
        return outcome(self.name, self.result, "ok" if self.result is Outcome.OK else "unreachable", "")


class Named:
    """Only what the registry's validation reads: a name and its needs."""

    def __init__(self, name: str, requires: tuple[str, ...] = ()) -> None:
        self.name, self.requires, self.after = name, requires, ()


def _context() -> CheckContext:
    # run_checks itself reads only the target (for the crash log) and the results.
    return CheckContext(target=CameraTarget("cam-1", "192.0.2.1", 80), runtime=None, resources=None)  # type: ignore[arg-type]


def _run(*checks: FakeCheck) -> dict[str, CheckOutcome]:
    results = asyncio.run(run_checks(_context(), checks))  # type: ignore[arg-type]
    assert [r.check for r in results] == [c.name for c in checks]  # in the listed order, whatever finished first
    return {r.check: r for r in results}


def test_a_check_runs_after_what_it_requires_and_after_and_the_rest_at_once() -> None:
    log: list[str] = []
    slow = FakeCheck("reachable", delay_s=0.05, log=log)
    onvif = FakeCheck("onvif", requires=("reachable",), log=log)
    independent = FakeCheck("rtsp", log=log)
    later = FakeCheck("stream", after=("onvif",), log=log)
    results = _run(slow, onvif, independent, later)
    assert all(r.outcome is Outcome.OK for r in results.values())
    assert log.index("end reachable") < log.index("start onvif") < log.index("start stream")
    assert log.index("start rtsp") < log.index("end reachable")  # it did not wait for anything


def test_a_failed_need_skips_the_check_naming_it_but_after_only_orders() -> None:
    results = _run(
        FakeCheck("reachable", result=Outcome.FAIL),
        FakeCheck("onvif", requires=("reachable",)),
        FakeCheck("credentials", requires=("onvif",)),
        FakeCheck("snapshot", after=("reachable",)),
        FakeCheck("warned", result=Outcome.WARN),
        FakeCheck("image", requires=("warned",)),
    )
    assert results["onvif"].outcome is Outcome.SKIPPED and "needs reachable" in results["onvif"].message
    assert results["credentials"].outcome is Outcome.SKIPPED  # a skipped need is not a pass
    assert results["snapshot"].outcome is Outcome.OK  # "after" waits, it does not require
    assert results["image"].outcome is Outcome.OK  # a warning still counts as having passed


def test_a_crashing_check_is_an_internal_error_and_the_others_go_on(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        results = _run(
            FakeCheck("reachable", crash=RuntimeError("boom")),
            FakeCheck("onvif", requires=("reachable",)),
            FakeCheck("rtsp"),
        )
    crashed = results["reachable"]
    assert (crashed.outcome, crashed.reason) == (Outcome.FAIL, "internal_error")
    assert crashed.message == "RuntimeError: boom"
    assert results["onvif"].outcome is Outcome.SKIPPED and results["rtsp"].outcome is Outcome.OK
    assert "cam-1: check reachable crashed" in caplog.text


def test_the_registry_lists_each_need_before_the_check_that_has_it() -> None:
    _validate(CHECKS)
    with pytest.raises(RuntimeError, match="'onvif' needs \\['reachable'\\]"):
        _validate((Named("onvif", ("reachable",)), Named("reachable")))  # type: ignore[arg-type]
