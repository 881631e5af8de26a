"""Making committed changes public: stage the changed cameras, websites and summaries, then publish them.

The worker commits batches as fast as they come; the public topics (``scc/v1/public/...``, retained)
follow on their own clock. What committed batches changed collects here and is staged at most every
``STAGE_INTERVAL_S`` (one staging transaction covers several batches, and the report-write turn
carries none of it); regency summaries are staged every ``summary_interval_s``. Staged rows are
published and marked published; a round that fails leaves them pending and the next round retries,
so nothing here may raise into the worker's loop after a batch was acknowledged (the worker guards
each call).

"None" means everything: at start (which also covers changes committed by a worker killed before it
staged them; digests keep republishing the unchanged cheap), and after maintenance, since operators'
edits change summaries too.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt

from central.config import CentralConfig
from central.ingest import public
from central.ingest.store import BatchWriter, is_unavailable
from central.storage.db import Database
from shared.mqtt import QOS_AT_LEAST_ONCE

# Public state is staged after the batches' commits, at most this often.
STAGE_INTERVAL_S = 0.25


class PublicRounds:
    """The worker thread's record of what is not public yet, and the rounds that make it so."""

    def __init__(self, config: CentralConfig, database: Database, writer: BatchWriter, client: mqtt.Client,
                 connected: threading.Event, on_unavailable: Callable[[BaseException], None]) -> None:  # fmt: skip
        self.config = config
        self.database = database
        self.writer = writer
        self.client = client
        self.connected = connected
        self.on_unavailable = on_unavailable
        self.unstaged_cameras: set[int] | None = None
        self.unstaged_websites: set[int] | None = None
        self.dirty_regencies: set[str] | None = None
        self.next_stage = 0.0
        self.next_summary = 0.0
        self.retry = False  # a publish round failed: staged rows wait for the next summary round
        self.published = 0

    def changed(self, cameras: Iterable[int] = (), websites: Iterable[int] = (), regencies: Iterable[str] = ()) -> None:
        """Committed changes the public topics must show."""
        if self.unstaged_cameras is not None:
            self.unstaged_cameras.update(cameras)
        if self.unstaged_websites is not None:
            self.unstaged_websites.update(websites)
        if self.dirty_regencies is not None:
            self.dirty_regencies.update(regencies)

    def all_summaries_due(self) -> None:
        self.dirty_regencies = None

    def summaries_due(self, now: float) -> bool:
        return (self.config.ingest.republish and now >= self.next_summary
                and (self.dirty_regencies != set() or self.retry))  # fmt: skip

    def stage_due(self) -> None:
        """Stage (and publish) the public state of the cameras and websites changed since the last round."""
        if not self.config.ingest.republish:
            return
        cameras, websites = self.unstaged_cameras, self.unstaged_websites
        if cameras == set() and websites == set():
            return
        now = time.monotonic()
        if now < self.next_stage:
            return
        if cameras is not None:  # the start-up round (everything) does not delay the first batch's
            self.next_stage = now + STAGE_INTERVAL_S
        self.unstaged_cameras, self.unstaged_websites = set(), set()
        try:
            self.writer.stage_public(cameras, websites)
        except Exception:
            # Not staged: the next round stages them again (None stays "all").
            self.unstaged_cameras = None if cameras is None or self.unstaged_cameras is None \
                else self.unstaged_cameras | cameras
            self.unstaged_websites = None if websites is None or self.unstaged_websites is None \
                else self.unstaged_websites | websites
            raise
        self.publish()

    def summaries(self, now: float) -> None:
        """Stage the summaries of the regencies changed since the last round, then publish."""
        self.next_summary = now + self.config.ingest.summary_interval_s
        regencies, self.dirty_regencies = self.dirty_regencies, set()
        try:
            if regencies != set():  # empty: only a failed publish to retry (stage_summaries reads {} as all)
                with self.writer.turns.turn(), self.database.session(write=True) as session:
                    public.stage_summaries(session.connection(), regencies, dt.datetime.now(dt.UTC),
                                          province_agents=self.config.province.agents,
                                          province_name=self.config.province.name)
        except Exception:
            # Not staged: the next interval must stage these regencies again.
            if regencies is None or self.dirty_regencies is None:
                self.dirty_regencies = None
            else:
                self.dirty_regencies |= regencies
            raise
        self.publish()

    def publish(self) -> None:
        """Publish staged public state; on failure the rows stay pending and the next summary round retries."""
        try:
            self._publish_pending()
        except Exception as error:
            self.retry = True
            if not is_unavailable(error):
                raise
            self.on_unavailable(error)
        else:
            self.retry = False

    def _publish_pending(self) -> None:
        if not self.config.ingest.republish or not self.connected.is_set():
            return
        with self.database.session() as session:
            rows = public.pending(session.connection())
        if not rows:
            return
        published = []
        for topic, seq, payload in rows:
            info = self.client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE, retain=True)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            published.append((topic, seq))
        with self.writer.turns.turn(), self.database.session(write=True) as session:
            public.mark_published(session.connection(), published)
        self.published += len(published)
