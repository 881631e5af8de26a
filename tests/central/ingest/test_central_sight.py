"""Central's sight as a whole from its workers' (central_sight.combined_since), and recorded in the database."""

from __future__ import annotations

import datetime as dt

from central.ingest.central_sight import DEAD_AFTER, combined_since, seeing_since
from central.storage.db import Database

T = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def test_one_worker_sees_as_it_does() -> None:
    assert combined_since(T, [], T + 60 * S) == T
    assert combined_since(None, [], T + 60 * S) is None


def test_a_live_blind_worker_blinds_central_and_the_latest_since_wins() -> None:
    now = T + 60 * S
    assert combined_since(T, [(None, now - S)], now) is None  # the other worker is disconnected
    assert combined_since(T, [(T + 30 * S, now - S)], now) == T + 30 * S  # it saw again later: from then
    assert combined_since(T + 40 * S, [(T + 30 * S, now - S)], now) == T + 40 * S


def test_a_dead_worker_blinds_central_only_until_found_dead_then_counts_as_seeing_from_then() -> None:
    heartbeat = T + 10 * S
    assert combined_since(T, [(None, heartbeat)], heartbeat + DEAD_AFTER) is None  # not yet dead
    found = heartbeat + DEAD_AFTER
    assert combined_since(T, [(None, heartbeat)], found + S) == found
    assert combined_since(T, [(T, heartbeat)], found + S) == found  # it was seeing: its queue is unread since
    long_ago = T - dt.timedelta(days=7)
    assert combined_since(T, [(long_ago, long_ago)], T + S) == T  # a worker stopped last week changes nothing


def test_each_worker_records_its_sight_and_reads_the_others(database: Database) -> None:
    now = T + 60 * S
    with database.session(write=True) as session:
        assert seeing_since(session.connection(), 1, None, now) is None
    with database.session(write=True) as session:
        assert seeing_since(session.connection(), 0, T, now) is None  # worker 1 is blind
    with database.session(write=True) as session:
        assert seeing_since(session.connection(), 1, T + 20 * S, now + S) == T + 20 * S  # recorded again
    with database.session(write=True) as session:
        assert seeing_since(session.connection(), 0, T, now + 2 * S) == T + 20 * S
