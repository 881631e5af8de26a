"""Benchmarks rewrite only their own section of docs/performance.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_ingest import goal_verdict
from benchmarks.report import write_section


def test_sections_are_replaced_in_place_and_others_kept(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nintro\n", encoding="utf-8")
    write_section("web", "## Web\n\nfirst", doc)
    write_section("ingest", "## Ingest\n\n5,000/s", doc)
    write_section("web", "## Web\n\nsecond", doc)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Performance\n\nintro\n")
    assert "first" not in text and text.count("## Web") == 1 and "5,000/s" in text
    assert text.index("<!-- bench:web:start -->") < text.index("<!-- bench:ingest:start -->")


def test_ingest_goal_is_judged_on_the_median_run_and_fails_on_any_lost_report() -> None:
    steady = [(0.70, 8_000.0, 0.0), (0.88, 10_000.0, 0.0), (0.80, 9_000.0, 0.0)]
    assert goal_verdict(2, steady) == "N=2 80% (median of 3 runs, 70%-88%) met"
    assert goal_verdict(2, [*steady[:2], (0.95, 11_000.0, 1.0)]).endswith("not met")  # one report lost
    assert goal_verdict(1, [(0.90, 4_000.0, 0.0)]) == "N=1 90% not met"  # under 5,000 reports/s
    assert goal_verdict(1, [(0.41, 4_566.0, 0.0)], judge=False) == "N=1 41%"
