"""The `alerts run` loop: evaluate rules, persist, deliver the outbox, send the monthly report on time."""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from central.alerts.evaluator import evaluate
from central.alerts.grouping import GroupingPolicy
from central.alerts.notices import event_fields
from central.alerts.outbox import DispatchStats, dispatch_due, enqueue
from central.alerts.queries import channel_rows
from central.alerts.routing import ChannelInfo, accepts, build_senders, list_channels
from central.alerts.senders import MqttSender, Sender
from central.alerts.sources import collect, thresholds
from central.alerts.store import ApplyStats, apply_evaluation, load_active, load_silences
from central.config import CentralConfig
from central.storage.db import Database
from central.storage.outage import WriteOutage, disk_space, is_unavailable
from shared import sdnotify
from shared.messages import utc_now

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def grouping_policy(config: CentralConfig) -> GroupingPolicy | None:
    grouping = config.alerts.grouping
    if not grouping.enabled:
        return None
    offline = config.alerts.rules.camera.offline
    return GroupingPolicy(
        min_cameras=grouping.min_cameras,
        min_fraction=grouping.min_fraction,
        window=timedelta(minutes=grouping.window_minutes),
        thresholds=thresholds(offline),
    )


@dataclass(slots=True)
class TickResult:
    applied: ApplyStats
    dispatched: DispatchStats
    reports: list[str] = field(default_factory=list)


class AlertService:
    """One evaluator/notifier; ``senders`` may be injected (tests), else built from config and the DB."""

    def __init__(
        self,
        config: CentralConfig,
        database: Database,
        *,
        clock: Clock = utc_now,
        senders: dict[str, Sender] | None = None,
    ) -> None:
        self.config = config
        self.database = database
        self.clock = clock
        self.outage = WriteOutage(log, config.database.url, "alerts are neither evaluated into the database nor sent "
                                  "until it can write again")
        self._fixed_senders = senders
        self._senders: dict[str, tuple[ChannelInfo, Sender]] = {}

    def channels(self) -> list[ChannelInfo]:
        with self.database.session() as session:
            rows = channel_rows(session)
        return list_channels(self.config.alerts, rows)

    def _refresh_senders(self) -> dict[str, Sender]:
        """Channels can be edited in the admin pages at any time: rebuild the ones that changed."""
        channels = self.channels()
        if self._fixed_senders is not None:
            self._senders = {
                c.name: (c, self._fixed_senders[c.name]) for c in channels if c.name in self._fixed_senders
            }
        else:
            # Only what changed is built again: a sender holds a connected MQTT client or an HTTP client
            # (whose TLS context alone took ~25 ms to make), and channels rarely change between ticks.
            kept = {c.name: self._senders[c.name] for c in channels if self._senders.get(c.name, (None,))[0] == c}
            fresh = kept | build_senders(self.config.alerts, self.config.broker,
                                         [c for c in channels if c.enabled and c.name not in kept])
            for name, (_, sender) in self._senders.items():
                if name not in kept and isinstance(sender, MqttSender):  # removed or replaced
                    sender.close()
            self._senders = fresh
        return {name: sender for name, (_, sender) in self._senders.items()}

    def route(self, rule: str, severity: str, regency: str | None, state: str) -> list[str]:
        return [
            name
            for name, (info, _) in sorted(self._senders.items())
            if accepts(info.filter, rule, severity, regency, state)
        ]

    def evaluate_once(self) -> ApplyStats:
        now = self.clock()
        with self.database.session(write=True) as session:
            active = load_active(session)
            silences = load_silences(session, now)
            observations = collect(session, self.config.alerts.rules, now, self.config.province, alerted=active.keys())
            evaluation = evaluate(active, observations, silences, now, grouping_policy(self.config))
            stats = apply_evaluation(session, evaluation, self.route, now)
        if stats.fired or stats.resolved or stats.queued:
            log.info(
                "alerts: %d fired, %d resolved, %d notifications queued",
                stats.fired,
                stats.resolved,
                stats.queued,
            )
        return stats

    def tick(self) -> TickResult:
        senders = self._refresh_senders()
        applied = self.evaluate_once()
        space = disk_space(self.database.url)
        if space is not None and space.full:
            # A send whose 'sent' cannot be recorded would go out again at every tick: wait for room.
            self.outage.failed(OSError(errno.ENOSPC, "no space left on device", str(space.path)))
            return TickResult(applied, DispatchStats())
        dispatched = dispatch_due(self.database, senders, self.config.alerts.delivery, self.clock)
        result = TickResult(applied, dispatched)
        from central.reports.schedule import send_due_reports

        result.reports = send_due_reports(self.config, self.database, self.clock())
        self.outage.recovered()
        return result

    def queue_test(self, channel: str, requested_by: str = "") -> int:
        """Queue a test notification for one channel (the admin page's "send test" button)."""
        now = self.clock()
        fields = event_fields(
            alert_id=f"test-{int(now.timestamp())}",
            rule="test",
            state="firing",
            severity="info",
            regency=None,
            subject="uji kanal " + channel,
            message=f"Pesan uji dari SCC{' oleh ' + requested_by if requested_by else ''}. Tidak perlu tindakan.",
            started_at=now,
            resolved_at=None,
        )
        with self.database.session(write=True) as session:
            [row] = enqueue(session, alert_pk=None, event="test", fields=fields, channels=[channel], now=now)
            session.flush()
            return row.id

    def run(self, stop: threading.Event) -> None:
        interval = self.config.alerts.interval_s
        # systemd (Type=notify, WatchdogSec) kills a loop that stops petting; None outside systemd.
        pet_every = sdnotify.watchdog_interval()
        log.info("alerts: evaluating every %.0f s", interval)
        sdnotify.notify_ready(f"evaluating every {interval:.0f} s")
        while not stop.is_set():
            sdnotify.notify_watchdog()
            try:
                self.tick()
            except Exception as error:  # keep the loop alive; the next tick retries from the database
                if is_unavailable(error):
                    self.outage.failed(error)  # one line for the whole outage, not a traceback per tick
                else:
                    log.exception("alerts: tick failed")
            sdnotify.notify_watchdog()
            next_tick = time.monotonic() + interval
            # A long interval is waited in watchdog-sized steps so that idling is not taken for a hang.
            while not stop.is_set() and (remaining := next_tick - time.monotonic()) > 0:
                stop.wait(min(remaining, pet_every) if pet_every else remaining)
                sdnotify.notify_watchdog()
        sdnotify.notify_stopping("stopping")
        self.close()

    def close(self) -> None:
        for _, sender in self._senders.values():
            if isinstance(sender, MqttSender):
                sender.close()
