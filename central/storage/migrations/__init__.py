"""Alembic migrations of central's database; run them with central.storage.migrate.upgrade."""
