"""The ingest worker's sight: seeing only while linked and storing, since the moment both last held."""

from __future__ import annotations

import datetime as dt

from central.ingest.apply.presence import offline_as_of
from central.ingest.sight import Sight
from tests.central.alerts.conftest import Clock

T = dt.datetime(2026, 1, 5, 4, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
GRACE = 60 * S


def test_a_new_worker_is_blind_until_subscribed_and_a_write_failure_or_lost_link_blinds_it_again() -> None:
    clock = Clock(T)
    sight = Sight(clock=clock)
    assert sight.since is None  # not subscribed yet
    clock.now = T + 5 * S
    sight.linked(True)
    assert sight.since == T + 5 * S
    clock.now = T + 9 * S
    sight.storing(True)  # every stored batch says so: it changes nothing while seeing
    assert sight.since == T + 5 * S
    sight.storing(False)  # disk full
    assert sight.since is None
    clock.now = T + 20 * S
    sight.linked(False)
    sight.storing(True)  # room again, but the link is still down
    assert sight.since is None
    clock.now = T + 30 * S
    sight.linked(True)
    assert sight.since == T + 30 * S  # a fresh start: what the grace period counts from


def test_the_grace_period_counts_from_the_later_of_the_lost_link_and_central_seeing_again() -> None:
    lost = T
    assert offline_as_of(lost, None, T + 600 * S, GRACE) is None  # blind: nothing is decided
    assert offline_as_of(lost, T - 600 * S, T + 59 * S, GRACE) is None
    assert offline_as_of(lost, T - 600 * S, T + 60 * S, GRACE) == lost  # seeing all along: as of the will
    back = T + 73 * S  # the will came as the broker went down; central saw again 73 s later
    assert offline_as_of(lost, back, T + 120 * S, GRACE) is None
    assert offline_as_of(lost, back, back + GRACE, GRACE) == back
