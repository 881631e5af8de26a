"""The outbox: order, persistence across restarts, sent and confirmed, resends, and exact drop counts per bound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.outbox import Outbox
from shared.codec import decode
from shared.messages import CameraState, CameraStatus, CommandName, CommandResult


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _status(camera: str, message: str = "") -> object:
    def build(seq: int, msg_id: str) -> CameraStatus:
        return CameraStatus(agent="agent-1", seq=seq, msg_id=msg_id, ts=datetime(2026, 1, 1, tzinfo=UTC),
                            camera_id=camera, status=CameraState.OK, reason="ok", message=message, checks=[])
    return build


def _result(command_id: str, message: str = "") -> object:
    def build(seq: int, msg_id: str) -> CommandResult:
        return CommandResult(agent="agent-1", seq=seq, msg_id=msg_id, ts=datetime(2026, 1, 1, tzinfo=UTC),
                             command_id=command_id, name=CommandName.CHECK_NOW, ok=True, message=message)
    return build


def _size(outbox_path: Path, build: object) -> int:
    probe = Outbox(outbox_path, max_bytes=10**9, max_age_s=10**9)
    probe.add(build)  # type: ignore[arg-type]
    size = probe.stats().bytes
    probe.close()
    outbox_path.unlink()
    return size


def test_seq_increases_and_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, max_bytes=10**9, max_age_s=10**9)
    first = [outbox.add(_result(f"c{i}")).seq for i in range(3)]  # type: ignore[arg-type]
    birth_seq, birth_id = outbox.allocate()
    outbox.close()
    reopened = Outbox(path, max_bytes=10**9, max_age_s=10**9)
    later = reopened.add(_result("c9"))  # type: ignore[arg-type]
    assert first == [1, 2, 3] and birth_seq == 4 and len(birth_id) == 32
    assert later.seq == 5
    pending = reopened.pending()
    assert [p.seq for p in pending] == [1, 2, 3, 5]
    decoded = decode(pending[0].topic, pending[0].payload)
    assert not hasattr(decoded, "reason") or isinstance(decoded.message, CommandResult)  # type: ignore[union-attr]
    assert reopened.mark_sent(2) and not reopened.mark_sent(2)
    assert [p.seq for p in reopened.pending()] == [1, 3, 5]
    assert [p.seq for p in reopened.pending(after_seq=1, limit=1)] == [3]
    reopened.close()


def test_a_sent_report_stays_until_central_confirms_it_and_survives_restarts(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    clock = FakeClock()
    outbox = Outbox(path, max_bytes=10**9, max_age_s=10**9, clock=clock)
    ids = [outbox.add(_result(f"c{i}")).msg_id for i in range(3)]  # type: ignore[arg-type]
    assert outbox.mark_sent(1) and outbox.mark_sent(2)
    stats = outbox.stats()
    assert (stats.depth, stats.awaiting_confirmation) == (3, 2)
    assert [p.seq for p in outbox.pending()] == [3]  # sent ones are not sent twice on their own
    outbox.close()

    reopened = Outbox(path, max_bytes=10**9, max_age_s=10**9, clock=clock)
    assert (reopened.stats().depth, reopened.stats().awaiting_confirmation) == (3, 2)
    # A confirmation names a sent report, an unsent one (a resend's twin was stored) and a stranger.
    assert reopened.confirm([ids[0], ids[2], "f" * 32]) == 2
    stats = reopened.stats()
    assert (stats.depth, stats.awaiting_confirmation, stats.bytes > 0) == (1, 1, True)
    assert reopened.confirm([ids[0]]) == 0  # twice: nothing left to forget
    assert reopened.pending() == []


def test_unconfirmed_reports_go_back_to_waiting_after_the_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=10**9, max_age_s=10**9, clock=clock)
    for i in range(3):
        outbox.add(_result(f"c{i}"))  # type: ignore[arg-type]
    outbox.mark_sent(2)
    clock.now += 50
    outbox.mark_sent(3)
    assert outbox.resend_unconfirmed(60) is None
    clock.now += 20  # seq 2 sent 70 s ago, seq 3 20 s ago
    assert outbox.resend_unconfirmed(60) == (2, 1)
    assert [p.seq for p in outbox.pending()] == [1, 2]
    assert outbox.stats().awaiting_confirmation == 1


def test_an_outbox_written_before_confirmations_keeps_its_reports_waiting(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY, msg_id TEXT NOT NULL, topic TEXT NOT NULL,
            payload BLOB NOT NULL, retain INTEGER NOT NULL, key TEXT, latest INTEGER NOT NULL,
            created REAL NOT NULL, size INTEGER NOT NULL);
        INSERT INTO meta VALUES ('next_seq', 8), ('dropped', 0), ('rejected', 0);
        INSERT INTO outbox VALUES (7, 'aa', 'scc/v1/agents/agent-1/metrics', x'7b7d', 0, NULL, 0, 999999.0, 2);
    """)
    old.commit()
    old.close()
    outbox = Outbox(path, max_bytes=10**9, max_age_s=10**9, clock=FakeClock())
    assert [p.seq for p in outbox.pending()] == [7]
    assert outbox.add(_result("n")).seq == 8  # type: ignore[arg-type]
    assert outbox.mark_sent(7) and outbox.confirm(["aa"]) == 1


def test_rejected_reports_are_counted_and_forgotten(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=10**9, max_age_s=10**9)
    outbox.add(_result("a"))  # type: ignore[arg-type]
    assert outbox.reject(1)
    stats = outbox.stats()
    assert (stats.depth, stats.bytes, stats.rejected_total, stats.dropped_total) == (0, 0, 1, 0)


@dataclass(frozen=True)
class Scenario:
    """Reports added in order; the bound in units of one report's size; what must remain."""

    name: str
    reports: tuple[tuple[str, str | None], ...]  # (kind, camera) per report: "status" keyed, "result" not
    bound_reports: float | None  # max_bytes in multiples of one report (None: unbounded)
    age_s: float | None  # max_age_s (None: unbounded); reports are added 10 s apart
    expected_dropped: int
    expected_left: tuple[int, ...]  # seqs left


SCENARIOS = (
    Scenario("unbounded", (("result", None),) * 5, None, None, 0, (1, 2, 3, 4, 5)),
    Scenario("bytes: oldest go first", (("result", None),) * 6, 4, None, 2, (3, 4, 5, 6)),
    Scenario("bytes: exactly at the bound", (("result", None),) * 4, 4, None, 0, (1, 2, 3, 4)),
    Scenario(
        "bytes: a camera's latest status is never dropped",
        (("status", "cam-1"), ("result", None), ("result", None), ("result", None), ("result", None)),
        3, None, 2, (1, 4, 5),
    ),
    Scenario(
        "bytes: an older status of the same camera is droppable",
        (("status", "cam-1"), ("status", "cam-1"), ("result", None), ("result", None)),
        3, None, 1, (2, 3, 4),
    ),
    Scenario(
        "bytes: every camera keeps its latest even beyond the bound",
        (("status", "cam-1"), ("status", "cam-2"), ("status", "cam-3"), ("result", None)),
        2, None, 1, (1, 2, 3),
    ),
    Scenario("age: reports older than max_age go", (("result", None),) * 6, None, 25, 3, (4, 5, 6)),
    Scenario(
        "age: the latest status stays however old",
        (("status", "cam-1"), ("result", None), ("result", None), ("result", None)),
        None, 15, 1, (1, 3, 4),
    ),
    Scenario("bytes and age together", (("result", None),) * 8, 3, 45, 5, (6, 7, 8)),
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_outbox_bounds_drop_exactly(tmp_path: Path, scenario: Scenario) -> None:
    # Every report has the same size (messages padded), so bounds translate into report counts.
    result_size = 600
    status_pad = result_size - _size(tmp_path / "probe.sqlite", _status("cam-1"))
    result_pad = result_size - _size(tmp_path / "probe.sqlite", _result("c0"))
    assert _size(tmp_path / "probe.sqlite", _status("cam-1", "x" * status_pad)) == result_size
    assert _size(tmp_path / "probe.sqlite", _result("c0", "x" * result_pad)) == result_size

    clock = FakeClock()
    max_bytes = int(scenario.bound_reports * result_size) if scenario.bound_reports else 10**9
    outbox = Outbox(tmp_path / "outbox.sqlite", max_bytes=max_bytes,
                    max_age_s=scenario.age_s or 10**9, clock=clock)
    for index, (kind, camera) in enumerate(scenario.reports):
        if kind == "status":
            assert camera is not None
            outbox.add(_status(camera, "x" * status_pad), key=f"status/{camera}")  # type: ignore[arg-type]
        else:
            outbox.add(_result(f"c{index}", "x" * result_pad))  # type: ignore[arg-type]
        clock.now += 10
    stats = outbox.stats()
    assert stats.dropped_total == scenario.expected_dropped
    assert tuple(p.seq for p in outbox.pending(limit=1000)) == scenario.expected_left
    assert stats.depth == len(scenario.expected_left)
    assert stats.bytes == len(scenario.expected_left) * result_size
    outbox.close()
    # Counters are persisted with the reports.
    reopened = Outbox(tmp_path / "outbox.sqlite", max_bytes=max_bytes, max_age_s=10**9, clock=clock)
    assert reopened.stats().dropped_total == scenario.expected_dropped
    assert reopened.stats().depth == len(scenario.expected_left)
    reopened.close()


def test_host_metrics_report_the_reports_the_broker_refused(tmp_path: Path) -> None:
    # The outbox counts refusals (ACL 0x87, too large); central only sees them through host_metrics.
    from edge_agent.metrics import sample
    from edge_agent.outbox import OutboxStats

    stats = OutboxStats(depth=1, bytes=10, dropped_total=2, rejected_total=5, next_seq=3)
    metrics = sample("agent-plg", tmp_path, stats)(3, "0" * 32)
    assert (metrics.outbox_dropped_total, metrics.outbox_rejected_total) == (2, 5)


def test_the_bound_drops_the_oldest_report_even_when_sent_and_unconfirmed(tmp_path: Path) -> None:
    size = _size(tmp_path / "probe.sqlite", _result("c0"))
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=2 * size, max_age_s=10**9)
    outbox.add(_result("c0"))  # type: ignore[arg-type]
    outbox.add(_result("c1"))  # type: ignore[arg-type]
    outbox.mark_sent(1)
    outbox.add(_result("c2"))  # type: ignore[arg-type]
    stats = outbox.stats()
    assert (stats.dropped_total, stats.depth, stats.awaiting_confirmation) == (1, 2, 0)
    assert [p.seq for p in outbox.pending()] == [2, 3]
