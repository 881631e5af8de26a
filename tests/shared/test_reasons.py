"""The reason table: every code worded in English and Indonesian, ranked where it is a problem, codes unique."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from shared.reasons import CAMERA, CAMERA_REASONS, DOWN_REASONS, PRIORITY, WEBSITE_REASONS, Reason, worded

CATALOG = Path(__file__).resolve().parents[2] / "central" / "web" / "translations" / "id" / "LC_MESSAGES"


def _indonesian() -> dict[str, str]:
    with (CATALOG / "messages.po").open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if isinstance(m.id, str) and m.id and m.string}


@pytest.mark.parametrize("reason", [*CAMERA_REASONS, *WEBSITE_REASONS], ids=lambda r: r.code)
def test_every_code_has_english_and_indonesian_wording(reason: Reason) -> None:
    indonesian = _indonesian()
    for wording in filter(None, (reason.short, reason.detailed)):
        assert wording.strip() and wording.isascii(), f"{reason.code}: no English wording"
        assert wording in indonesian, f"{reason.code}: {wording!r} has no Indonesian translation in messages.po"
    assert reason.description.strip(), f"{reason.code}: says nothing about what it means"


def test_codes_are_unique_per_table() -> None:
    for table in (CAMERA_REASONS, WEBSITE_REASONS):
        codes = [reason.code for reason in table]
        assert len(codes) == len(set(codes))


def test_down_evidence_and_priority_come_from_the_table() -> None:
    assert {r.code for r in CAMERA_REASONS if r.down} == DOWN_REASONS
    # Being gone outranks a wrong password, which outranks a bad picture.
    assert PRIORITY.index("unreachable") < PRIORITY.index("auth_failed") < PRIORITY.index("black")
    assert {"ok", "unknown", "skipped", "no_report", "lost", "agent_offline"}.isdisjoint(PRIORITY)
    assert not any(r.down for r in CAMERA_REASONS if not r.ranked)


def test_wording_fills_details_and_falls_back() -> None:
    assert worded(CAMERA, "clock_skew", {"offset_h": 3}) == "clock 3 h off"
    assert worded(CAMERA, "clock_skew", {"other": 1}) == "clock off"
    assert worded(CAMERA, "clock_skew") == "clock off"
    assert worded(CAMERA, "brand_new_code") == "other reason (brand_new_code)"
    assert worded(CAMERA, "brand_new_code", translate=lambda s: _indonesian()[s]) == "alasan lain (brand_new_code)"
