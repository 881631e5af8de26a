"""The ingest's housekeeping between batches: lost agent links, silent cameras, daily rollups, retention.

Each job takes the writer's turn (``turns.py``) like a batch does, so on SQLite it never waits on the
report writes for the lock, and tells ``PublicRounds`` what it changed so the public topics follow.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from central.config import CentralConfig
from central.ingest import central_sight, public
from central.ingest.apply import presence
from central.ingest.publishing import PublicRounds
from central.ingest.sight import Sight
from central.ingest.store import BatchWriter
from central.storage import maintenance
from central.storage.db import Database

PRUNE_EVERY_S = 3600.0


class Upkeep:
    """Housekeeping jobs for one ingest worker; the worker's loop decides when each is due."""

    def __init__(self, config: CentralConfig, database: Database, writer: BatchWriter, rounds: PublicRounds,
                 sight: Sight, worker: int = 0) -> None:
        self.config = config
        self.sight = sight
        self.worker = worker
        self.database = database
        self.writer = writer
        self.rounds = rounds
        self._timezone = ZoneInfo(config.web.timezone)
        self._last_prune: float | None = None

    def settle_lost_links(self) -> None:
        """Agents whose link died longer than the grace period ago, or silent for ``agent_silence_s``, go
        offline (apply/presence.py), both counted only while central as a whole could see and store
        (central_sight.py): blind, it decides nothing. Records this worker's sight on the way (its heartbeat:
        one small upsert a settle period)."""
        ingest = self.config.ingest
        grace = dt.timedelta(seconds=ingest.agent_offline_grace_s)
        silence = dt.timedelta(seconds=ingest.agent_silence_s) if ingest.agent_silence_s > 0 else None
        now = dt.datetime.now(dt.UTC)
        with self.writer.turns.turn(), self.database.session(write=True) as session:
            seeing_since = central_sight.seeing_since(session.connection(), self.worker, self.sight.since, now)
        if seeing_since is None:
            return
        with self.database.session() as session:  # almost always nothing: no write turn for that
            lost = presence.links_lost(session.connection())
            silent = (silence is not None and now - seeing_since >= silence
                      and presence.silent_agents(session.connection(), now, silence))
            if not (lost or silent):
                return
        with self.writer.turns.turn(), self.database.session(write=True) as session:
            changed = presence.settle_lost_links(session.connection(), now, grace, seeing_since)
            if silent and silence is not None:
                more = presence.settle_silent_agents(session.connection(), now, silence, seeing_since)
                changed.cameras |= more.cameras
                changed.regencies |= more.regencies
        self.rounds.changed(cameras=changed.cameras, regencies=changed.regencies)

    def stopping(self) -> None:
        """This worker is stopping: it records itself blind (its queue at the broker goes unread), so the
        others settle nothing until it is back or found dead (central_sight.py)."""
        with self.writer.turns.turn(), self.database.session(write=True) as session:
            central_sight.record(session.connection(), self.worker, None, dt.datetime.now(dt.UTC))

    def maintenance(self, now: dt.datetime | None = None) -> None:
        """Daily rollups for yesterday and today, silent cameras and websites, and (hourly) retention."""
        now = now or dt.datetime.now(dt.UTC)
        silence = dt.timedelta(seconds=self.config.ingest.silence_after_s)
        with self.writer.turns.turn(), self.database.session(write=True) as session:
            silent = maintenance.mark_silent_cameras(session.connection(), now, silence)
            silent_sites = maintenance.mark_silent_websites(session.connection(), now, silence)
            if self.config.ingest.republish:
                province = self.config.province.agents
                public.stage_cameras(session.connection(), silent, now, province)
                public.stage_websites(session.connection(), silent_sites, now, province)
                public.stage_retired_cameras(session.connection(), now, province)
        # Every summary, not only those messages touched: operators' edits (a retired camera, a rollout
        # plan) change them too. Unchanged ones are not republished (public_state compares digests).
        self.rounds.all_summaries_due()
        today = maintenance.local_day(now, self._timezone)
        for day in (today - dt.timedelta(days=1), today):
            with self.writer.turns.turn(), self.database.session(write=True) as session:
                maintenance.update_daily(session.connection(), day, self._timezone, now)
        if self._last_prune is None or time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = time.monotonic()
            with self.writer.turns.turn(), self.database.session(write=True) as session:
                maintenance.prune(session.connection(), dt.timedelta(days=self.config.database.retention_days), now)
