"""benchmarks/broker_matrix.py: every probe passes on the reference broker (Mosquitto with the generated
config), so a "no" it prints for another broker is that broker's, not the probe's."""

from __future__ import annotations

from pathlib import Path

from benchmarks.broker_matrix import FEATURES, mosquitto, run_probes, table
from tests.fixtures.broker import Pki


def test_every_probe_passes_on_mosquitto_with_the_generated_config(pki: Pki, tmp_path: Path) -> None:
    with mosquitto(pki, tmp_path / "mosquitto") as endpoint:
        results = run_probes(endpoint, endpoint)
    assert [result.split(" ")[0] for result in results] == ["yes"] * len(FEATURES), results
    shared = results[FEATURES.index("shared subscription")]
    assert "split" in shared and " 0/" not in shared and "/0)" not in shared  # both members got some
    assert table([("mosquitto", results)]).count("\n") == 2
