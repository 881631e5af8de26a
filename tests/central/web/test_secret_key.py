"""Every web box on one database signs cookies with one key, so a login made on one works on all of them."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from central.storage.db import Database
from central.web import create_app
from central.web.secret_key import LEGACY_FILE, WebSecret, shared_key
from tests.central.web.conftest import log_in, make_config
from tests.central.web.seed import seed


def _box(tmp_path: Path, name: str, database: Database, **web: object):  # type: ignore[no-untyped-def]
    """One web box: its own state dir, the shared database, no key configured unless ``web`` gives one."""
    config = make_config(tmp_path / name, str(database.url), **web)
    return create_app(config, {"TESTING": True, "DATABASE": database})


def test_a_login_made_on_one_box_is_honoured_by_another(database: Database, tmp_path: Path) -> None:
    seed(database)
    first, second = _box(tmp_path, "box-a", database), _box(tmp_path, "box-b", database)
    on_first = first.test_client()
    log_in(on_first, "admin")
    cookie = on_first.get_cookie(first.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    on_second = second.test_client()
    on_second.set_cookie(cookie.key, cookie.value)
    page = on_second.get("/")
    assert page.status_code == 200 and "/logout" in page.text  # logged in there too, not sent to /login
    assert first.secret_key == second.secret_key and len(str(first.secret_key)) >= 48
    assert not (tmp_path / "box-a" / "state" / LEGACY_FILE).exists()


def test_a_box_boots_and_answers_health_while_its_database_is_away(tmp_path: Path) -> None:
    config = make_config(tmp_path, "postgresql+psycopg://scc@127.0.0.1:1/central")  # nobody listens on port 1
    app = create_app(config, {"TESTING": True})
    client = app.test_client()
    assert client.get("/healthz").status_code == 503  # says the database is away, rather than a 500
    assert client.get("/").status_code in (302, 503)  # to the login page, or the database error page


def test_a_configured_key_wins_and_is_not_stored(database: Database, tmp_path: Path) -> None:
    seed(database)
    app = _box(tmp_path, "box", database, secret_key="configured-key-for-every-box")
    log_in(app.test_client(), "admin")
    assert app.secret_key == "configured-key-for-every-box"
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSecret)) == 0


def test_the_key_an_upgraded_box_generated_into_its_state_dir_is_kept(database: Database, tmp_path: Path) -> None:
    state = tmp_path / "old" / "state"
    state.mkdir(parents=True)
    (state / LEGACY_FILE).write_text("the-key-this-box-signed-its-logins-with\n", encoding="utf-8")
    assert shared_key(database, state) == "the-key-this-box-signed-its-logins-with"
    assert shared_key(database, tmp_path / "new" / "state") == "the-key-this-box-signed-its-logins-with"


def test_workers_starting_at_once_agree_on_one_key(database: Database, tmp_path: Path) -> None:
    keys: list[str] = []
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()
        keys.append(shared_key(database, tmp_path))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 6 and len(set(keys)) == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSecret)) == 1
