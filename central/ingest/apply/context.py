"""What every handler gets: the batch's connection and the shared state of its one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from central.ingest.batch import Accepted, BatchResult, Rejected, StoreSettings
from central.ingest.fastsql import FastExecutor
from central.storage.db import dialect_insert
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
    refused: list[Rejected] = field(default_factory=list)  # quarantined by the writer in this transaction

    def refuse(self, entry: Accepted[Any], category: str, reason: str) -> None:
        """Quarantine ``entry`` instead of storing it (a handler's refusal, e.g. a camera never inventoried)."""
        self.refused.append(Rejected(entry.item, category, reason, entry.message.agent, entry.message.msg_id))

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, for ON CONFLICT clauses."""
        return dialect_insert(table, self.postgres)
