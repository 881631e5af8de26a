"""The running agent: wires config, outbox, MQTT link, inventory, scheduler, decodes, metrics, websites, commands."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

from edge_agent import metrics
from edge_agent.config import AgentConfig
from edge_agent.decodes import DecodeRotation
from edge_agent.discovery import discover
from edge_agent.inventory import Inventory
from edge_agent.live_view import LiveView
from edge_agent.onvif_replies import DeviceInfo
from edge_agent.outbox import Outbox, OutboxUnavailable, ReportTooLarge
from edge_agent.publisher import Publisher
from edge_agent.remote_commands import CommandHandler
from edge_agent.scheduler import CameraChecker, CycleResult, Scheduler, close_resources, make_resources
from edge_agent.scrub import scrub
from shared import sdnotify
from shared.messages import Command, Message

log = logging.getLogger(__name__)

# A loop that ended with an exception is started again after this pause (not at once: a bug that
# fails immediately must not spin).
RESTART_DELAY_S = 5.0


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.name = config.agent.name
        config.agent.state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(config.outbox_path, max_bytes=config.outbox.max_bytes,
                             max_age_s=config.outbox.max_age_s)
        self.resources = make_resources(config)
        self.checker = CameraChecker(config, self.resources)
        self.inventory = Inventory(config)
        self.scheduler = Scheduler(config, self.checker, self._report_cycle)
        self.decodes = DecodeRotation(self.checker, lambda: self.scheduler.targets)
        self.publisher = Publisher(config, self.outbox, on_command=self._command,
                                   cameras_configured=lambda: len(self.scheduler.targets),
                                   websites_configured=lambda: len(config.websites))
        self._reasons: dict[str, str] = {}  # camera id -> the latest cycle's reason, for live view failures
        self.live = LiveView(self.name, config.live, self._live_camera, lambda camera_id: self._reasons.get(camera_id, ""),
                             self.publisher.publish_live, int(config.timeouts.rtsp_open_s * 1000),
                             int(config.timeouts.rtsp_read_s * 1000))
        self.commands = CommandHandler(self.name, self.scheduler, self.rediscover, self._add, self.live.handle)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._progress = (0, time.monotonic())  # (cycles_done, when it last changed)
        self._unhealthy: str | None = None  # why the watchdog is not being pinged, once logged
        self._identities: dict[str, tuple[str, str]] = {}
        self._inventory_dirty = False

    # --- reports ---------------------------------------------------------------------------

    def _add(self, build: Callable[[int, str], Message], *, key: str | None = None, jpeg: bytes | None = None) -> None:
        """Store a report; a full disk or an oversized report loses that report, never the caller's loop."""
        try:
            self.outbox.add(build, key=key, jpeg=jpeg)
        except (OutboxUnavailable, ReportTooLarge):
            return  # the outbox logged it (a full disk once, not per report) and counted it
        self.publisher.wake()

    async def _command(self, command: Command) -> None:
        await self.commands(command)

    def _live_camera(self, camera_id: str) -> tuple[Any, Any] | None:
        target = self.scheduler.targets.get(camera_id)
        return None if target is None else (target, self.checker.runtimes.get(camera_id))

    async def _expire_live(self) -> None:
        self.live.expire()

    def _report_cycle(self, result: CycleResult) -> None:
        camera_id = result.target.camera_id
        self._reasons[camera_id] = result.decision.reason
        self._add(result.status_builder(self.name), key=f"status/{camera_id}")
        device = self._device(camera_id)
        if device is not None and self._identities.get(camera_id) != (device.serial, device.mac):
            # Serial and MAC arrive with the first successful check: they feed deduplication and
            # the inventory, refreshed in batches by the inventory loop.
            self._identities[camera_id] = (device.serial, device.mac)
            self._inventory_dirty = True
        if result.thumbnail is not None:
            from edge_agent.thumbnails import builder

            jpeg, width, height = result.thumbnail
            self._add(builder(self.name, camera_id, jpeg, width, height, result.checked_at), jpeg=jpeg)

    def _device(self, camera_id: str) -> DeviceInfo | None:
        runtime = self.checker.runtimes.get(camera_id)
        return runtime.session.device if runtime else None

    def _refresh_targets(self) -> int:
        targets = self.inventory.targets(self._device)
        self.scheduler.set_targets(targets)
        build = self.inventory.message(targets, self._device, self.name)
        if build is not None:
            self._add(build, key="inventory")
        return len(targets)

    async def rediscover(self) -> int:
        discovery = self.config.discovery
        if discovery.enabled and (discovery.multicast or discovery.ranges):
            try:
                found = await discover(discovery.interfaces, discovery.ranges, multicast=discovery.multicast,
                                       listen_s=discovery.listen_s, repeats=discovery.repeats,
                                       port=discovery.port, rate=discovery.unicast_rate)
            except OSError as error:
                log.warning("discovery failed: %s", scrub(error))
            else:
                found.log_drops(log)
                log.info("discovery: %s; %d device(s)", found.summary(), len(found.found))
                self.inventory.merge(found.devices)
        return self._refresh_targets()

    # --- loops -----------------------------------------------------------------------------

    def _spawn(self, start: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run a loop; if it ever ends with an exception, log it and start it again."""
        task = asyncio.create_task(start(), name=name)
        self._tasks.append(task)
        task.add_done_callback(functools.partial(self._ended, start, name))

    def _ended(self, start: Callable[[], Coroutine[Any, Any, None]], name: str, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping:
            return
        error = task.exception()
        if error is None:
            return  # finished its work (e.g. no websites configured)
        log.error("%s loop ended with an error; restarting it in %.0f s", name, RESTART_DELAY_S, exc_info=error)

        async def restart() -> None:
            await asyncio.sleep(RESTART_DELAY_S)
            await start()

        self._spawn(restart, name)

    async def _every(self, seconds: float, job: Callable[[], Coroutine[Any, Any, Any]], name: str) -> None:
        while True:
            await asyncio.sleep(seconds * random.uniform(0.95, 1.05))
            try:
                await job()
            except Exception:
                log.exception("%s failed; trying again in %.0f s", name, seconds)

    async def _metrics(self) -> None:
        build = metrics.sample(self.name, self.config.agent.state_dir, self.outbox.stats())
        self._add(build)

    async def _inventory(self) -> None:
        if self._inventory_dirty:
            self._inventory_dirty = False
            self._refresh_targets()

    def stall_after_s(self) -> float:
        """No check cycle finished for this long (with cameras to check) means the scheduler is stuck."""
        schedule = self.config.schedule
        # A camera at full backoff is checked every backoff_max_s; a cycle can take its timeouts on top.
        return 2 * max(schedule.interval_s, schedule.backoff_max_s) + 120.0

    def health_problem(self) -> str | None:
        """Why the agent is not doing its job (the watchdog should stop being pinged), or None."""
        if not self.publisher.network_alive():
            return "the MQTT network thread has stopped: no reconnects, no reports"
        if self.scheduler.targets:
            cycles = self.scheduler.cycles_done
            now = time.monotonic()
            if cycles != self._progress[0]:
                self._progress = (cycles, now)
            elif now - self._progress[1] > self.stall_after_s():
                return f"no camera check finished in {now - self._progress[1]:.0f} s"
        return None

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        if not interval:
            return
        self._progress = (self.scheduler.cycles_done, time.monotonic())
        while True:
            problem = self.health_problem()
            if problem is None:
                if self._unhealthy is not None:
                    log.warning("healthy again (was: %s); pinging the systemd watchdog", self._unhealthy)
                    self._unhealthy = None
                sdnotify.notify_watchdog()
            elif problem != self._unhealthy:
                # Saying "alive" while stuck would keep a dead agent running forever: let systemd
                # restart it instead.
                self._unhealthy = problem
                log.error("unhealthy: %s; no longer pinging the systemd watchdog so it restarts the agent",
                          problem)
            await asyncio.sleep(interval / 2)

    async def _websites(self) -> None:
        targets = list(self.config.websites)
        if not targets:
            return
        from edge_agent.websites import WebsiteChecker

        async with WebsiteChecker(self.config.agent.state_dir / "websites.sqlite") as checker:
            await asyncio.gather(*(self._website_loop(checker, target) for target in targets))

    async def _website_loop(self, checker: Any, target: Any) -> None:
        await asyncio.sleep(random.uniform(0, min(target.interval_s, 30)))
        while True:
            try:
                findings = await checker.check(target)
            except Exception:
                log.exception("website %s: check crashed", target.id)
            else:
                try:
                    self._add(functools.partial(_website_message, findings, self.name), key=f"website/{target.id}")
                except Exception:
                    # Ending here would end every website's loop (they are gathered): log and go on.
                    log.exception("website %s: storing the result failed", target.id)
            await asyncio.sleep(target.interval_s * random.uniform(0.9, 1.1))

    async def run(self, stop: asyncio.Event) -> None:
        schedule = self.config.schedule
        await self.publisher.start()
        try:
            count = await self.rediscover()
            log.info("agent %s checking %d camera(s), %d website(s)", self.name, count, len(self.config.websites))
            self._spawn(lambda: self._every(schedule.metrics_every_s, self._metrics, "host metrics"), "metrics")
            self._spawn(lambda: self._every(schedule.discovery_every_s, self.rediscover, "discovery"), "discovery")
            self._spawn(lambda: self._every(2.0, self._inventory, "inventory"), "inventory")
            self._spawn(self._websites, "websites")
            self._spawn(self.decodes.run, "rtsp-decodes")
            self._spawn(self._watchdog, "watchdog")
            self._spawn(lambda: self._every(1.0, self._expire_live, "live view leases"), "live-view")
            sdnotify.notify_ready(f"checking {count} cameras")
            await stop.wait()
        finally:
            sdnotify.notify_stopping("shutting down")
            self._stopping = True
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    try:
                        await task
                    except Exception:
                        # Already logged by _ended if it ended before the stop; shutdown goes on.
                        log.debug("%s ended with an error", task.get_name(), exc_info=True)
            await self.scheduler.stop()
            await asyncio.get_running_loop().run_in_executor(None, self.live.stop_all)
            await self.publisher.stop()
            await self.checker.close()
            await close_resources(self.resources)
            self.outbox.close()


def _website_message(findings: Any, agent: str, seq: int, msg_id: str) -> Message:
    message: Message = findings.to_message(agent=agent, seq=seq, msg_id=msg_id)
    return message
