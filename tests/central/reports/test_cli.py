"""`scc-central report render --regency`: a regency's report file holds that regency only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from central.cli import main
from central.storage.db import Database
from tests.central.web.seed import seed


def test_render_of_one_regency(tmp_path: Path, sqlite_url: str) -> None:
    config = tmp_path / "central.toml"
    config.write_text(tomli_w.dumps({"state_dir": str(tmp_path / "state"), "database": {"url": sqlite_url}}))
    database = Database(sqlite_url)
    seed(database, now=datetime(2025, 3, 20, 12, 0, tzinfo=UTC), thumbnails=False)
    database.dispose()
    output = tmp_path / "palembang.csv"
    command = ["--config", str(config), "report", "render", "--period", "2025-03", "--format", "camera"]
    assert main([*command, "--regency", "16.71", "--output", str(output)]) == 0
    rows = list(csv.reader(io.StringIO(output.read_text("utf-8-sig"))))[1:]
    assert rows and {row[0] for row in rows} == {"16.71"}
    with pytest.raises(SystemExit) as exit_info:  # argparse: a clear error, exit status 2
        main([*command, "--regency", "16.99", "--output", str(output)])
    assert exit_info.value.code == 2
