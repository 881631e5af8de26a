"""`user add` and `user password` never take a password in argv: prompt or --password-stdin only."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import tomli_w

from central.cli import main
from central.storage.db import Database
from central.web.accounts import authenticate

SECRET = "hunter2-in-argv-xyz"


@pytest.fixture
def config_file(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(tomli_w.dumps({"state_dir": str(tmp_path / "state"), "database": {"url": sqlite_url}}))
    return path


@pytest.mark.parametrize("command", [["add", "ani", "--role", "admin"], ["password", "ani"]])
@pytest.mark.parametrize("flag", [["--password", SECRET], [f"--password={SECRET}"], ["--password"]])
def test_password_in_argv_is_refused_without_echoing_it(
    config_file: Path, command: list[str], flag: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--config", str(config_file), "user", *command, *flag])
    assert refused.value.code == 2
    out = capsys.readouterr()
    assert "--password-stdin" in out.err
    assert SECRET not in out.err + out.out


def test_without_a_terminal_the_password_must_be_piped_explicitly(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["--config", str(config_file), "user", "add", "ani", "--role", "viewer"]) == 1
    assert "--password-stdin" in capsys.readouterr().err


def test_password_stdin_sets_a_new_password(
    config_file: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("first long password\r\n"))
    assert (
        main(["--config", str(config_file), "user", "add", "ani", "--role", "viewer", "--password-stdin"])
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("second long password\n"))
    assert main(["--config", str(config_file), "user", "password", "ani", "--password-stdin"]) == 0
    database = Database(sqlite_url)
    with database.session() as session:
        assert authenticate(session, "ani", "first long password") is None
        assert authenticate(session, "ani", "second long password") is not None
    database.dispose()
