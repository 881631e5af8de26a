"""The ingest-memory benchmark's verdict tells a filling cache from a leak, and a short run really writes."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_ingest_memory import measure, verdict


def test_a_plateau_meets_the_goal_and_steady_growth_does_not() -> None:
    cache_filling = [(n, n * 170, min(85.0 + n * 0.2, 162.0)) for n in range(0, 601, 50)]
    leaking = [(n, n * 170, 85.0 + n * 0.2) for n in range(0, 601, 50)]
    assert verdict(cache_filling)[1]
    growth, met = verdict(leaking)
    assert not met and growth > 10


def test_a_short_run_writes_every_report(tmp_path: Path) -> None:
    samples = measure(f"sqlite:///{tmp_path / 'central.db'}", rounds=3)
    assert [written for _, written, _ in samples] == [170, 510]
    assert all(rss > 0 for _, _, rss in samples)
