"""What every handler gets: the batch's connection and the shared state of its one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from central.ingest.batch import BatchResult, StoreSettings
from central.ingest.fastsql import FastExecutor
from central.storage.transitions import Transitions


@dataclass(slots=True)
class Batch:
    """One transaction's handlers share this: state changes and events go through ``transitions``."""

    conn: Connection
    settings: StoreSettings
    fast: FastExecutor  # SQLite executemany without SQLAlchemy's per-row machinery (the hot statements)
    postgres: bool
    transitions: Transitions
    result: BatchResult
    known_agents: dict[str, str]  # agent -> regency already in the agents table (the writer's cache)

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, for ON CONFLICT clauses."""
        return postgresql.insert(table) if self.postgres else sqlite.insert(table)
