"""The running agent: wires config, outbox, MQTT link, inventory, scheduler, decodes, metrics, websites, commands."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from edge_agent import metrics
from edge_agent.commands import CommandHandler
from edge_agent.config import AgentConfig
from edge_agent.decodes import DecodeRotation
from edge_agent.discovery import discover
from edge_agent.inventory import Inventory
from edge_agent.onvif_client import DeviceInfo
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from edge_agent.scheduler import CameraChecker, CycleResult, Scheduler, close_resources, make_resources
from edge_agent.scrub import scrub
from shared import sdnotify
from shared.messages import Message

log = logging.getLogger(__name__)


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
        self.commands = CommandHandler(self.name, self.scheduler, self.rediscover, self._add)
        self.publisher = Publisher(config, self.outbox, on_command=self.commands,
                                   cameras_configured=lambda: len(self.scheduler.targets),
                                   websites_configured=lambda: len(config.websites))
        self._tasks: list[asyncio.Task[None]] = []
        self._identities: dict[str, tuple[str, str]] = {}
        self._inventory_dirty = False

    # --- reports ---------------------------------------------------------------------------

    def _add(self, build: Callable[[int, str], Message], *, key: str | None = None, jpeg: bytes | None = None) -> None:
        self.outbox.add(build, key=key, jpeg=jpeg)
        self.publisher.wake()

    def _report_cycle(self, result: CycleResult) -> None:
        camera_id = result.target.camera_id
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
                devices = await discover(discovery.interfaces, discovery.ranges, multicast=discovery.multicast,
                                         listen_s=discovery.listen_s, repeats=discovery.repeats,
                                         port=discovery.port, rate=discovery.unicast_rate)
            except OSError as error:
                log.warning("discovery failed: %s", scrub(error))
            else:
                log.info("discovery: %d device(s) answered", len(devices))
                self.inventory.merge(devices)
        return self._refresh_targets()

    # --- loops -----------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

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

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        if not interval:
            return
        while True:
            sdnotify.notify_watchdog()
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
                self._add(functools.partial(_website_message, findings, self.name), key=f"website/{target.id}")
            await asyncio.sleep(target.interval_s * random.uniform(0.9, 1.1))

    async def run(self, stop: asyncio.Event) -> None:
        schedule = self.config.schedule
        await self.publisher.start()
        try:
            count = await self.rediscover()
            log.info("agent %s checking %d camera(s), %d website(s)", self.name, count, len(self.config.websites))
            self._spawn(self._every(schedule.metrics_every_s, self._metrics, "host metrics"), "metrics")
            self._spawn(self._every(schedule.discovery_every_s, self.rediscover, "discovery"), "discovery")
            self._spawn(self._every(2.0, self._inventory, "inventory"), "inventory")
            self._spawn(self._websites(), "websites")
            self._spawn(self.decodes.run(), "rtsp-decodes")
            self._spawn(self._watchdog(), "watchdog")
            sdnotify.notify_ready(f"checking {count} cameras")
            await stop.wait()
        finally:
            sdnotify.notify_stopping("shutting down")
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.scheduler.stop()
            await self.publisher.stop()
            await self.checker.close()
            await close_resources(self.resources)
            self.outbox.close()


def _website_message(findings: Any, agent: str, seq: int, msg_id: str) -> Message:
    message: Message = findings.to_message(agent=agent, seq=seq, msg_id=msg_id)
    return message
