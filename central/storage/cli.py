"""`scc-central db ...`: create or upgrade the database schema, and show where it stands."""

from __future__ import annotations

import argparse
import logging

from sqlalchemy.exc import SQLAlchemyError

from central.config import CentralConfig
from central.storage.db import Database
from central.storage.migrate import current_revisions, head_revisions, upgrade

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db_parser = subparsers.add_parser("db", help="database schema: upgrade, status")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade_parser = db_commands.add_parser("upgrade", help="create the database or upgrade it to the newest schema")
    upgrade_parser.add_argument("revision", nargs="?", default="heads", help="target revision (default: %(default)s)")
    upgrade_parser.set_defaults(handler=run_upgrade)
    status_parser = db_commands.add_parser("status", help="show the schema revision of the database")
    status_parser.set_defaults(handler=run_status)


def run_upgrade(config: CentralConfig, args: argparse.Namespace) -> int:
    database = Database.from_config(config)
    try:
        heads = upgrade(database, args.revision)
    except SQLAlchemyError as error:
        log.error("cannot upgrade %s: %s", database.url.render_as_string(hide_password=True), error)
        return 1
    finally:
        database.dispose()
    print(f"database at revision {', '.join(heads)}")
    return 0


def run_status(config: CentralConfig, args: argparse.Namespace) -> int:
    database = Database.from_config(config)
    try:
        current = current_revisions(database)
    except SQLAlchemyError as error:
        log.error("cannot read %s: %s", database.url.render_as_string(hide_password=True), error)
        return 1
    finally:
        database.dispose()
    heads = head_revisions()
    print(f"current: {', '.join(current) or '(empty database)'}")
    print(f"newest:  {', '.join(heads)}")
    return 0 if current == heads else 3
