"""Run Alembic migrations programmatically: create or upgrade central's schema, then seed reference rows.

Migrations ship inside the package (central/storage/migrations/versions). Other features keep theirs in
``central/<feature>/migrations/versions/`` with ``down_revision`` set to a revision here (or their own
``branch_labels``); they are found automatically and ``upgrade`` goes to every head.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from central.storage.db import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CENTRAL_DIR = Path(__file__).parent.parent


def version_locations() -> list[Path]:
    """Storage's versions first, then each feature's ``central/<feature>/migrations/versions``."""
    own = MIGRATIONS_DIR / "versions"
    others = sorted(p for p in CENTRAL_DIR.glob("*/migrations/versions") if p.is_dir() and p != own)
    return [own, *others]


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(database: Database, revision: str = "heads") -> list[str]:
    """Create or upgrade the schema to ``revision``; returns the revisions current afterwards."""
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    heads = current_revisions(database)
    log.info("database %s at revision %s", database.url.render_as_string(hide_password=True), ", ".join(heads))
    return heads


def current_revisions(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        return sorted(_current(connection))


def _current(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


def head_revisions() -> list[str]:
    return sorted(ScriptDirectory.from_config(alembic_config()).get_heads())


def is_up_to_date(database: Database) -> bool:
    return current_revisions(database) == head_revisions()
