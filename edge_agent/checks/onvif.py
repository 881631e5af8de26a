"""Checks: ONVIF answers (unauthenticated time), camera clock offset, credentials accepted (+ media refresh)."""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from zeep.exceptions import Fault

from edge_agent.checks.base import CheckContext, outcome, skipped
from edge_agent.onvif_errors import ONVIF_ERRORS, classify
from edge_agent.scrub import scrub
from shared.messages import CheckOutcome, Outcome

log = logging.getLogger(__name__)


class OnvifAnswers:
    name: ClassVar[str] = "onvif"
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ("reachable",)

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        if not ctx.target.onvif:
            return skipped(self.name, "camera configured without ONVIF")
        started = time.monotonic()
        session = ctx.runtime.session
        try:
            reading = await session.system_time()
        except ONVIF_ERRORS as error:
            failure = classify(error)
            if isinstance(error, Fault) and failure.reason == "onvif_error":
                # Firmware without GetSystemDateAndTime (agsh/onvif#65): the service answers SOAP, so the
                # credentials are tried, signed with the agent's clock (as Home Assistant goes on too).
                return outcome(self.name, Outcome.OK, "ok", f"ONVIF answers, without the time ({failure.message})",
                               started=started, time="unsupported")
            # Rebuild the proxies next time (cheap); a broken pooled connection is dropped by aiohttp.
            await session.close()
            return outcome(self.name, Outcome.FAIL, failure.reason, failure.message, started=started)
        elapsed = round(reading.elapsed_s, 2)
        if reading.elapsed_s > ctx.config.timeouts.slow_warn_s:
            return outcome(self.name, Outcome.WARN, "slow_response", f"ONVIF answered after {elapsed} s",
                           started=started, elapsed_s=elapsed)
        return outcome(self.name, Outcome.OK, "ok", "ONVIF answers", started=started, elapsed_s=elapsed)


class Clock:
    name: ClassVar[str] = "clock"
    requires: ClassVar[tuple[str, ...]] = ("onvif",)
    after: ClassVar[tuple[str, ...]] = ()

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        offset = ctx.runtime.session.clock_offset_s
        if offset is None:
            return outcome(self.name, Outcome.SKIPPED, "skipped", "camera did not report UTC time")
        hours = round(offset / 3600, 1)
        if abs(offset) > ctx.config.thresholds.clock_warn_s:
            direction = "ahead of" if offset > 0 else "behind"
            return outcome(self.name, Outcome.WARN, "clock_skew",
                           f"camera clock is {abs(offset):.0f} s ({abs(hours):g} h) {direction} the agent's; "
                           "requests are signed with the offset", offset_s=round(offset, 1), offset_h=abs(hours))
        return outcome(self.name, Outcome.OK, "ok", "camera clock in sync", offset_s=round(offset, 1),
                       offset_h=abs(hours))


class Credentials:
    name: ClassVar[str] = "credentials"
    requires: ClassVar[tuple[str, ...]] = ("onvif",)
    after: ClassVar[tuple[str, ...]] = ()

    async def run(self, ctx: CheckContext) -> CheckOutcome:
        started = time.monotonic()
        session = ctx.runtime.session
        try:
            device = await session.device_information()
        except ONVIF_ERRORS as error:
            failure = classify(error)
            return outcome(self.name, Outcome.FAIL, failure.reason, failure.message, started=started)
        details: dict[str, str | int | float | bool | None] = {"serial": device.serial, "model": device.model}
        if session.media_stale(ctx.config.schedule.onvif_refresh_s):
            try:
                profile = await session.refresh_media()
            except ONVIF_ERRORS as error:
                failure = classify(error)
                log.info("%s: reading profiles failed: %s", ctx.target.camera_id, scrub(failure.message))
                details["media"] = failure.reason
            else:
                details["profile"] = profile.token if profile else None
                # One optional call failing (a GetSnapshotUri the firmware breaks) is that call's finding.
                for call, failure in session.media_failures.items():
                    details[call] = failure.reason
        return outcome(self.name, Outcome.OK, "ok", "credentials accepted", started=started, **details)
