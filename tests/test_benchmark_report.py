"""Benchmarks rewrite only their own section of docs/performance.md."""

from __future__ import annotations

from pathlib import Path

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
