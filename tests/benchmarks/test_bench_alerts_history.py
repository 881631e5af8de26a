"""The alerts-history benchmark seeds what it says and its verdict tells a flat tick from a growing one."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_alerts_history import FLAPS_PER_DAY, Figure, measure, verdict


def test_a_tick_that_grows_with_history_fails_the_verdict() -> None:
    flat = [Figure(1, 0, 0, 16.0, 140.0), Figure(365, 0, 0, 19.0, 150.0)]
    growing = [Figure(1, 0, 0, 16.0, 140.0), Figure(365, 0, 0, 400.0, 210.0)]
    assert verdict(flat)[1]
    ratio, met = verdict(growing)
    assert not met and ratio == 25.0


def test_a_days_history_is_seeded_and_ticked(tmp_path: Path) -> None:
    figure = measure(f"sqlite:///{tmp_path / 'central.db'}", days=1)
    assert figure.periods == 170 * FLAPS_PER_DAY * 2  # an ok and a bad period per flap, per camera
    assert figure.host_samples == 17 * 24 * 60
    assert figure.tick_ms > 0 and figure.rss_mib > 0
