"""PublicRounds' bookkeeping: what committed batches changed stays due until a round really staged it."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from central.config import parse_config
from central.ingest.agents import AgentDirectory
from central.ingest.publishing import PublicRounds
from central.ingest.store import BatchWriter
from central.storage.db import Database
from tests.central import factories as f


@pytest.fixture
def rounds(database: Database) -> PublicRounds:
    config = parse_config({"database": {"url": database.url.render_as_string(hide_password=False)}})
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({"agent-plg": "16.71"})))
    unavailable: list[BaseException] = []
    # Never connected: rounds stage rows and leave them pending, as while the broker is away.
    return PublicRounds(config, database, writer, mqtt.Client(mqtt.CallbackAPIVersion.VERSION2), threading.Event(),
                        unavailable.append)  # fmt: skip


def test_everything_is_due_at_start_then_only_what_changed(rounds: PublicRounds) -> None:
    assert rounds.unstaged_cameras is None and rounds.dirty_regencies is None  # a killed worker's changes too
    rounds.changed([1], [2], ["16.71"])  # nothing to add to "everything"
    assert rounds.unstaged_cameras is None
    rounds.stage_due()
    assert rounds.unstaged_cameras == set() and rounds.unstaged_websites == set()
    rounds.changed([7], [], ["16.06"])
    rounds.next_stage = 0.0
    assert rounds.unstaged_cameras == {7} and rounds.dirty_regencies is None


def test_a_failed_staging_round_keeps_its_changes_for_the_next(rounds: PublicRounds, monkeypatch: pytest.MonkeyPatch) -> None:
    rounds.stage_due()
    rounds.changed([3, 4], [5])

    def broken(*_args: Any) -> None:
        raise RuntimeError("staging failed")

    monkeypatch.setattr(rounds.writer, "stage_public", broken)
    rounds.next_stage = 0.0
    with pytest.raises(RuntimeError):
        rounds.stage_due()
    assert rounds.unstaged_cameras == {3, 4} and rounds.unstaged_websites == {5}
    monkeypatch.undo()
    rounds.changed([6])
    rounds.next_stage = 0.0
    rounds.stage_due()
    assert rounds.unstaged_cameras == set()


def test_failed_summaries_stay_due_and_maintenance_makes_all_of_them_due(
    rounds: PublicRounds, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds.summaries(now=0.0)  # the start-up round: every regency
    assert rounds.dirty_regencies == set() and not rounds.summaries_due(now=0.0)
    rounds.changed(regencies=["16.71"])
    assert rounds.summaries_due(now=rounds.next_summary)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("summaries failed")

    monkeypatch.setattr("central.ingest.public.stage_summaries", broken)
    with pytest.raises(RuntimeError):
        rounds.summaries(now=rounds.next_summary)
    assert rounds.dirty_regencies == {"16.71"}
    rounds.all_summaries_due()
    assert rounds.dirty_regencies is None
