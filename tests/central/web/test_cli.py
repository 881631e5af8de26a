"""`scc-central user add`, `token add` and `serve` (its gunicorn command line and configuration)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
import tomli_w

from central.cli import main
from central.config import parse_config
from central.storage.db import Database
from central.web import create_app
from central.web.accounts import Role, authenticate
from central.web.cli import gunicorn_argv


@pytest.fixture
def config_file(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(
        tomli_w.dumps(
            {"state_dir": str(tmp_path / "state"), "database": {"url": sqlite_url}, "web": {"threads": 40}}
        )
    )
    return path


def test_user_add_reads_the_password_from_stdin_or_the_prompt(
    config_file: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def add(name: str, role: str, password: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        return main(["--config", str(config_file), "user", "add", name, "--role", role, "--password-stdin"])

    assert add("siti", "operator", "a long password") == 0
    answers = iter(["another long one", "another long one"])
    monkeypatch.setattr("sys.stdin", io.StringIO())
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["--config", str(config_file), "user", "add", "budi", "--role", "viewer"]) == 0
    assert add("siti", "admin", "x" * 12) == 1
    assert "exists already" in capsys.readouterr().err
    assert add("ani", "admin", "short") == 1
    database = Database(sqlite_url)
    with database.session() as session:
        siti = authenticate(session, "siti", "a long password")
        budi = authenticate(session, "budi", "another long one")
        assert siti is not None and Role(siti.role) is Role.OPERATOR
        assert budi is not None and Role(budi.role) is Role.VIEWER
        assert siti.password_hash.startswith(("scrypt:", "pbkdf2:"))
    database.dispose()


def test_token_add_prints_it_once_and_stores_a_hash(
    config_file: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--config", str(config_file), "token", "add", "dashboard-bappeda"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("scc_") and len(token) > 40
    database = Database(sqlite_url)
    with database.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_sha256 FROM web_api_tokens").scalar_one()
    assert token not in stored
    config = parse_config({"state_dir": str(tmp_path / "state"), "database": {"url": sqlite_url}})
    client = create_app(config, {"DATABASE": database}).test_client()
    assert client.get("/api/v1/rollout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert main(["--config", str(config_file), "token", "revoke", "dashboard-bappeda"]) == 0
    assert client.get("/api/v1/rollout", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    database.dispose()


def test_serve_runs_gunicorn_with_threaded_workers(config_file: Path) -> None:
    config = parse_config({"web": {"threads": 40, "bind": "0.0.0.0:9000"}})
    args = argparse.Namespace(bind=None, workers=3, threads=None, no_access_log=True, config=config_file)
    argv, env = gunicorn_argv(config, args)
    assert argv[1:] == ["-m", "gunicorn", "--config", "python:central.web.gunicorn_conf"]
    assert (env["SCC_WEB_BIND"], env["SCC_WEB_WORKERS"], env["SCC_WEB_THREADS"]) == (
        "0.0.0.0:9000",
        "3",
        "40",
    )
    assert env["SCC_CENTRAL_CONFIG"] == str(config_file)


def test_gunicorn_conf_uses_gthread(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.setenv("SCC_WEB_THREADS", "48")
    monkeypatch.setenv("SCC_WEB_STREAM_SLOTS", "100")
    import central.web.gunicorn_conf as conf

    conf = importlib.reload(conf)
    assert conf.worker_class == "gthread" and conf.threads == 148  # pages' threads plus the streams' slots
    assert conf.wsgi_app == "central.web.wsgi:app"


def test_user_regencies_role_and_disable(
    config_file: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from central.web.accounts import WebUser

    def run(*argv: str, password: str = "a long password") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        return main(["--config", str(config_file), *argv])

    assert run("user", "add", "rina", "--role", "operator", "--regency", "16.71", "--regency", "16.06",
               "--password-stdin") == 0  # fmt: skip
    assert "regencies 16.06, 16.71" in capsys.readouterr().out
    assert run("user", "add", "x", "--role", "viewer", "--regency", "99.99", "--password-stdin") == 1
    assert "no regency 99.99" in capsys.readouterr().err
    assert run("user", "role", "rina", "--role", "viewer") == 0
    assert run("user", "regencies", "rina") == 0  # no --regency: the whole province
    assert run("user", "disable", "rina") == 0
    assert run("user", "disable", "nobody") == 1
    database = Database(sqlite_url)
    with database.session() as session:
        assert authenticate(session, "rina", "a long password") is None
        rina = session.query(WebUser).filter_by(name="rina").one()
        assert (rina.role, rina.regencies, rina.active) == ("viewer", [], False)
    assert run("user", "enable", "rina") == 0
    with database.session() as session:
        assert authenticate(session, "rina", "a long password") is not None
    database.dispose()


def test_token_add_with_scope_and_regencies(config_file: Path, sqlite_url: str) -> None:
    from central.web.accounts import ApiToken

    argv = [
        "--config",
        str(config_file),
        "token",
        "add",
        "bpbd-muba",
        "--scope",
        "internal",
        "--regency",
        "16.06",
    ]
    assert main(argv) == 0
    database = Database(sqlite_url)
    with database.session() as session:
        token = session.query(ApiToken).filter_by(name="bpbd-muba").one()
        assert (token.scopes, token.regencies) == (["internal"], ["16.06"])
    database.dispose()
