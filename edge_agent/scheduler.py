"""Checks every camera on its own jittered interval with bounded concurrency, backing off dead cameras."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import httpx

from edge_agent import thumbnails
from edge_agent.checks import second_look
from edge_agent.checks.base import CameraRuntime, CameraTarget, CheckContext, Resources
from edge_agent.checks.registry import run_checks
from edge_agent.checks.stream import decode_stream
from edge_agent.config import AgentConfig
from edge_agent.onvif_client import OnvifSession
from edge_agent.onvif_pool import OnvifPool
from edge_agent.status import Decision, decide
from shared.messages import CameraStatus, CheckOutcome, Outcome, utc_now

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CycleResult:
    """One camera's check cycle: what each check said, the verdict, and a thumbnail if one is due."""

    target: CameraTarget
    decision: Decision
    outcomes: list[CheckOutcome]
    checked_at: datetime
    thumbnail: tuple[bytes, int, int] | None = None

    def status_builder(self, agent: str) -> Callable[[int, str], CameraStatus]:
        decision, outcomes, target, ts = self.decision, self.outcomes, self.target, self.checked_at

        def build(seq: int, msg_id: str) -> CameraStatus:
            return CameraStatus(agent=agent, seq=seq, msg_id=msg_id, ts=ts, camera_id=target.camera_id,
                                status=decision.state, reason=decision.reason, message=decision.message[:2048],
                                consecutive_failures=decision.consecutive_failures, checks=outcomes)
        return build


def make_resources(config: AgentConfig) -> Resources:
    schedule = config.schedule
    return Resources(
        config=config,
        # Camera HTTPS uses self-signed certificates almost everywhere; the camera is identified by
        # its address on a private VLAN, not by a certificate.
        http=httpx.AsyncClient(
            verify=False, timeout=config.timeouts.snapshot_s, follow_redirects=False,
            limits=httpx.Limits(max_connections=schedule.concurrency * 2,
                                max_keepalive_connections=schedule.concurrency * 2),
        ),
        onvif=OnvifPool(connections=schedule.concurrency * 2),
        executor=ThreadPoolExecutor(schedule.workers, thread_name_prefix="scc-cpu"),
        rtsp_executor=ThreadPoolExecutor(schedule.rtsp_concurrency + 2, thread_name_prefix="scc-rtsp"),
        rtsp_slots=asyncio.Semaphore(schedule.rtsp_concurrency),
        check_slots=asyncio.Semaphore(schedule.concurrency),
    )


async def close_resources(resources: Resources) -> None:
    await resources.http.aclose()
    await resources.onvif.close()
    resources.executor.shutdown(wait=False, cancel_futures=True)
    resources.rtsp_executor.shutdown(wait=False, cancel_futures=True)


class CameraChecker:
    """Runs check cycles and keeps each camera's state (ONVIF session, last frame, failure count)."""

    def __init__(self, config: AgentConfig, resources: Resources) -> None:
        self.config = config
        self.resources = resources
        self.runtimes: dict[str, CameraRuntime] = {}

    def runtime(self, target: CameraTarget) -> CameraRuntime:
        runtime = self.runtimes.get(target.camera_id)
        session = runtime.session if runtime else None
        if runtime is None or session is None or (
            session.host, session.port, session.username, session.device_url
        ) != (target.host, target.port, target.username, target.onvif_url):
            runtime = CameraRuntime(
                session=OnvifSession(target.host, target.port, target.username, target.password,
                                     timeout_s=self.config.timeouts.onvif_s, pool=self.resources.onvif,
                                     device_url=target.onvif_url,
                                     live_width=self.config.live.max_width if self.config.live.enabled else 0),
            )
            self.runtimes[target.camera_id] = runtime
        return runtime

    async def forget(self, camera_id: str) -> None:
        runtime = self.runtimes.pop(camera_id, None)
        if runtime is not None:
            await runtime.session.close()

    async def close(self) -> None:
        for camera_id in list(self.runtimes):
            await self.forget(camera_id)

    async def decode(self, target: CameraTarget) -> CheckOutcome:
        """Decode the camera's stream now, in a decode slot (not a check slot); the next cycles report it."""
        return await decode_stream(target, self.runtime(target), self.resources)

    async def cycle(self, target: CameraTarget, *, full: bool = False, thumbnail: bool = False) -> CycleResult:
        """One cycle in a check slot; ``full`` also decodes the stream now (after, in a decode slot),
        ``thumbnail`` forces a thumbnail."""
        runtime = self.runtime(target)
        schedule = self.config.schedule
        ctx = CheckContext(target=target, runtime=runtime, resources=self.resources)
        checked_at = utc_now()
        async with self.resources.check_slots:
            outcomes = await run_checks(ctx)
        # Before the second look's wait, so that no waiting camera holds its picture through it.
        rendered = await self._thumbnail(ctx, forced=thumbnail)
        if second_look.wanted(ctx):
            # Outside the check slot: the wait costs this camera's cycle seconds, not the fleet's slots.
            first_at = time.monotonic()
            await asyncio.sleep(schedule.second_look_s)
            async with self.resources.check_slots:
                again = await second_look.look_again(ctx, first_at)
            if again is not None:
                outcomes = [again if o.check == again.check else o for o in outcomes]
        else:
            second_look.skipped(ctx)
        runtime.cycles += 1
        rtsp = ctx.results.get("rtsp")
        runtime.rtsp_ok = rtsp is not None and rtsp.outcome in (Outcome.OK, Outcome.WARN)
        if not runtime.rtsp_ok:
            # What the stream did before is unknown now; once DESCRIBE answers again, the rotation
            # decodes this camera first.
            runtime.stream_result, runtime.decoded_at = None, 0.0
        elif full:
            fresh = await self.decode(target)
            outcomes = [fresh if o.check == fresh.check else o for o in outcomes]
        decision = decide(outcomes, runtime.consecutive_failures, schedule.offline_after)
        runtime.consecutive_failures = decision.consecutive_failures
        return CycleResult(target, decision, outcomes, checked_at, thumbnail=rendered)

    async def _thumbnail(self, ctx: CheckContext, *, forced: bool) -> tuple[bytes, int, int] | None:
        """The snapshot's thumbnail when one is due (``forced``, a meaningful change, or its time); either
        way the snapshot keeps no picture after this (the second look compares the JPEG and grey only)."""
        analysed = ctx.artifacts.snapshot
        if analysed is None:
            return None
        ctx.artifacts.snapshot = analysed.without_picture()
        if not thumbnails.thumbnail_due(ctx.runtime, analysed, change_threshold=self.config.thresholds.thumbnail_change,
                                        every_s=self.config.schedule.thumbnail_every_s, forced=forced):
            return None
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(self.resources.executor, thumbnails.render, analysed)
        thumbnails.mark_sent(ctx.runtime, analysed)
        return rendered


Reporter = Callable[[CycleResult], None]


class Scheduler:
    """One asyncio task per camera, each on its own jittered interval; the checker bounds how many check at once."""

    def __init__(self, config: AgentConfig, checker: CameraChecker, report: Reporter) -> None:
        self.config = config
        self.checker = checker
        self.report = report
        self.targets: dict[str, CameraTarget] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.cycles_done = 0
        self.started = time.monotonic()
        self._report_failing: str | None = None

    def set_targets(self, targets: Iterable[CameraTarget]) -> None:
        """Start checking new cameras, stop checking removed ones, pick up changed addresses."""
        wanted = {target.camera_id: target for target in targets}
        for camera_id in list(self._tasks):
            if camera_id not in wanted:
                self._tasks.pop(camera_id).cancel()
                self.targets.pop(camera_id, None)
                asyncio.get_running_loop().create_task(self.checker.forget(camera_id))
        for camera_id, target in wanted.items():
            self.targets[camera_id] = target
            if camera_id not in self._tasks:
                self._tasks[camera_id] = asyncio.create_task(self._camera_loop(camera_id), name=f"camera-{camera_id}")

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def run_once(self, camera_id: str, *, full: bool = False, thumbnail: bool = False) -> CycleResult:
        target = self.targets[camera_id]
        try:
            # The checker bounds concurrency (check slots; decodes have their own).
            result = await self.checker.cycle(target, full=full, thumbnail=thumbnail)
        except Exception:
            # The registry turns check crashes into results; this is the last line of defence.
            log.exception("%s: check cycle crashed", camera_id)
            raise
        self.cycles_done += 1
        try:
            self.report(result)
        except Exception as error:
            # Not re-raised: the check happened and its caller (a camera loop, check_now) goes on.
            # Logged once per kind of failure, not once per camera and cycle.
            problem = f"{type(error).__name__}: {error}"
            if problem != self._report_failing:
                self._report_failing = problem
                log.exception("%s: reporting the check result failed (logged once until it recurs "
                              "differently)", camera_id)
        else:
            self._report_failing = None
        return result

    async def check_now(self, camera_id: str | None = None, *, thumbnail: bool = False) -> list[CycleResult]:
        """Check one camera or all now, with RTSP decode, outside their schedule."""
        ids = [camera_id] if camera_id else list(self.targets)
        unknown = [c for c in ids if c not in self.targets]
        if unknown:
            raise KeyError(unknown[0])
        return list(await asyncio.gather(*(self.run_once(c, full=True, thumbnail=thumbnail) for c in ids)))

    def _next_delay(self, camera_id: str) -> float:
        schedule = self.config.schedule
        interval = schedule.interval_s
        runtime = self.checker.runtimes.get(camera_id)
        failures = runtime.consecutive_failures if runtime else 0
        if failures >= schedule.offline_after:
            # A camera that stays dead is checked less and less often, up to backoff_max_s.
            # The exponent is capped: uncapped, 2 ** n overflows a float after days of failures.
            exponent = min(failures - schedule.offline_after + 1, 32)
            interval = min(interval * 2**exponent, schedule.backoff_max_s)
        return interval * (1 + random.uniform(-schedule.jitter, schedule.jitter))

    async def _camera_loop(self, camera_id: str) -> None:
        # Spread the first checks over one interval so 1,000 cameras do not start at once.
        await asyncio.sleep(random.uniform(0, self.config.schedule.interval_s))
        while True:
            started = time.monotonic()
            try:
                await self.run_once(camera_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                pass  # logged in run_once; the camera is tried again next interval
            try:
                delay = self._next_delay(camera_id) - (time.monotonic() - started)
            except Exception:
                # An exception here would end this camera's checks for good.
                log.exception("%s: computing the next check time failed; using the interval", camera_id)
                delay = self.config.schedule.interval_s
            await asyncio.sleep(max(delay, 0.0))
