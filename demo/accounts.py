"""The demo's web login and API token: created in central's database, remembered in the state dir."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEMO_USER = "demo"


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str
    password: str
    token: str


def ensure_credentials(central_config: Path, state_dir: Path) -> Credentials:
    """An admin login (same password across runs) and a fresh read-only API token for this run."""
    # Imported here: the orchestrator itself must start even while central is half built.
    from central.config import load_config
    from central.storage.db import Database
    from central.web import accounts

    remembered = state_dir / "demo-login.json"
    password = _remembered_password(remembered) or secrets.token_urlsafe(12)
    database = Database.from_config(load_config(central_config))
    try:
        with database.session(write=True) as session:
            try:
                accounts.add_user(session, DEMO_USER, password, accounts.Role.ADMIN)
            except accounts.AccountError:
                accounts.set_password(session, DEMO_USER, password)
            # Only the token's hash is stored, so each run mints a new one to be able to show it.
            token = accounts.add_token(session, f"demo-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}")
    finally:
        database.dispose()
    _remember(remembered, {"user": DEMO_USER, "password": password})
    return Credentials(DEMO_USER, password, token)


def _remembered_password(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    password = data.get("password") if isinstance(data, dict) else None
    return password if isinstance(password, str) and len(password) >= 10 else None


def _remember(path: Path, data: dict[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
