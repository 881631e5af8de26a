"""The migrations build exactly the models' schema on both backends, seeded with the 17 regencies."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from central.storage.db import READER_SQLITE_CACHE_MIB, WRITER_SQLITE_CACHE_MIB, Database
from central.storage.migrate import head_revisions, is_up_to_date, upgrade
from central.storage.models import Base, Regency, Rollout
from shared.regencies import all_regencies


def test_migrations_match_models(database: Database) -> None:
    with database.engine.connect() as connection:
        # Other features' migrations add tables of their own; this compares storage's.
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _parent: type_ != "table" or name in Base.metadata.tables,
            },
        )
        assert compare_metadata(context, Base.metadata) == []
    assert is_up_to_date(database)


def test_regencies_seeded_with_a_rollout_each(session: Session) -> None:
    codes = session.scalars(select(Regency.code).order_by(Regency.code)).all()
    assert codes == [r.code for r in all_regencies()]
    assert session.scalar(select(func.count()).select_from(Rollout)) == 17


def test_upgrade_is_idempotent(database: Database) -> None:
    assert upgrade(database) == head_revisions()
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Regency)) == 17


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.dispose()


def test_sqlite_page_cache_is_sized_per_role(sqlite_url: str) -> None:
    # The ingest (the one writer) keeps a smaller cache than the readers: it fills within minutes
    # instead of growing the process for an hour (db.WRITER_SQLITE_CACHE_MIB).
    for cache_mib in (READER_SQLITE_CACHE_MIB, WRITER_SQLITE_CACHE_MIB):
        database = Database(sqlite_url, sqlite_cache_mib=cache_mib)
        with database.session() as session:
            assert session.execute(text("PRAGMA cache_size")).scalar() == -1024 * cache_mib
        database.dispose()
    assert WRITER_SQLITE_CACHE_MIB < READER_SQLITE_CACHE_MIB


def test_db_upgrade_command_creates_a_new_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from central.cli import main

    config = tmp_path / "central.toml"
    db_path = tmp_path / "nested" / "central.db"
    config.write_text(f'[database]\nurl = "sqlite:///{db_path}"\n')
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert main(["--config", str(config), "db", "status"]) == 0
    assert db_path.exists()


def test_recorded_rollout_stages_move_onto_the_one_ladder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0005: what operators recorded in the old words keeps telling the derivation the same thing."""
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(database, "0004_unindexed_updated_at")
    old = {"16.01": "survey", "16.02": "installing", "16.03": "pilot", "16.04": "live", "16.05": "planned"}
    with database.engine.begin() as connection:
        for code, stage in old.items():
            connection.execute(text("UPDATE rollouts SET stage = :stage WHERE regency_code = :code"),
                               {"stage": stage, "code": code})
    upgrade(database)
    with database.session() as session:
        rows = session.execute(select(Rollout.regency_code, Rollout.stage).where(Rollout.regency_code.in_(old)))
        stages = {code: stage for code, stage in rows}
    assert stages == {"16.01": "planned", "16.02": "box_installed", "16.03": "box_installed", "16.04": "complete",
                      "16.05": "planned"}
    database.dispose()
