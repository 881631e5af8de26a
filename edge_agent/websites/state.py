"""Remembers each website's content fingerprint and when it last changed, across checks and restarts."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS content_fingerprint (
    website_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    changed_at TEXT,
    last_seen TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class FingerprintHistory:
    """What the store knew after recording one observation."""

    first_seen: dt.datetime
    changed_at: dt.datetime | None  # None until a change has been seen with our own eyes
    new: bool  # first observation of this site (or of its new URL)


class FingerprintStore:
    """SQLite file under the agent's state directory; one row per website."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One writer (the checker's event loop thread); WAL keeps a crash from losing the file.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def observe(self, website_id: str, url: str, fingerprint: str, now: dt.datetime) -> FingerprintHistory:
        stamp = now.isoformat()
        row = self._db.execute(
            "SELECT url, fingerprint, first_seen, changed_at FROM content_fingerprint WHERE website_id = ?",
            (website_id,),
        ).fetchone()
        if row is None or row[0] != url:
            # A moved URL is a different page: its history starts again.
            self._db.execute(
                "INSERT OR REPLACE INTO content_fingerprint VALUES (?, ?, ?, ?, NULL, ?)",
                (website_id, url, fingerprint, stamp, stamp),
            )
            return FingerprintHistory(first_seen=now, changed_at=None, new=True)
        first_seen = dt.datetime.fromisoformat(row[2])
        changed_at = dt.datetime.fromisoformat(row[3]) if row[3] else None
        if row[1] != fingerprint:
            changed_at = now
        self._db.execute(
            "UPDATE content_fingerprint SET fingerprint = ?, changed_at = ?, last_seen = ? WHERE website_id = ?",
            (fingerprint, changed_at.isoformat() if changed_at else None, stamp, website_id),
        )
        return FingerprintHistory(first_seen=first_seen, changed_at=changed_at, new=False)

    def close(self) -> None:
        self._db.close()
