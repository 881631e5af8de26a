"""What the checker remembers per website across checks and restarts: content history and maintenance.

Content: the page's fingerprint, when it was first seen, when it last changed *in content* (a block
never seen before on this page appeared) and every content block seen so far (bounded), so that a
page cycling through the same banners or widgets never counts as updated.
Maintenance: when a maintenance window was first seen and when it was announced to end, so that the
end a site gave at the start is what an overrun is measured against (``Retry-After: 600`` is sent
anew with every response and would otherwise never run out).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edge_agent.websites.fingerprint import Fingerprint

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS content_fingerprint (
    website_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    changed_at TEXT,
    last_seen TEXT NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS maintenance (
    website_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    expected_end TEXT NOT NULL
)
""",
)
# Block hashes remembered per page; beyond this the memory starts again from the current page.
MAX_SEEN_BLOCKS = 4000


@dataclass(frozen=True, slots=True)
class FingerprintHistory:
    """What the store knew after recording one observation."""

    first_seen: dt.datetime
    changed_at: dt.datetime | None  # None until a content change has been seen with our own eyes
    new: bool  # first observation of this site (or of its new URL)
    cosmetic: bool = False  # this observation differed, but only in blocks seen before or removed


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    started_at: dt.datetime
    expected_end: dt.datetime


class FingerprintStore:
    """SQLite file under the agent's state directory; one row per website in each table."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One writer (the checker's event loop thread); WAL keeps a crash from losing the file.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(content_fingerprint)")}
        if "seen_blocks" not in columns:  # a state file from before block tracking
            self._db.execute("ALTER TABLE content_fingerprint ADD COLUMN seen_blocks TEXT NOT NULL DEFAULT ''")

    def observe(self, website_id: str, url: str, fingerprint: Fingerprint, now: dt.datetime) -> FingerprintHistory:
        stamp = now.isoformat()
        row = self._db.execute(
            "SELECT url, fingerprint, first_seen, changed_at, seen_blocks FROM content_fingerprint "
            "WHERE website_id = ?",
            (website_id,),
        ).fetchone()
        blocks = " ".join(sorted(fingerprint.blocks))
        if row is None or row[0] != url:
            # A moved URL is a different page: its history starts again.
            self._db.execute(
                "INSERT OR REPLACE INTO content_fingerprint "
                "(website_id, url, fingerprint, first_seen, changed_at, last_seen, seen_blocks) "
                "VALUES (?, ?, ?, ?, NULL, ?, ?)",
                (website_id, url, fingerprint.digest, stamp, stamp, blocks),
            )
            return FingerprintHistory(first_seen=now, changed_at=None, new=True)
        first_seen = dt.datetime.fromisoformat(row[2])
        changed_at = dt.datetime.fromisoformat(row[3]) if row[3] else None
        seen = set(row[4].split()) if row[4] else set()
        cosmetic = False
        if row[1] != fingerprint.digest:
            # A state file without remembered blocks has nothing to compare with: the change counts.
            if not seen or fingerprint.blocks - seen:
                changed_at = now
            else:
                cosmetic = True
        seen |= fingerprint.blocks
        if len(seen) > MAX_SEEN_BLOCKS:
            seen = set(fingerprint.blocks)
        self._db.execute(
            "UPDATE content_fingerprint SET fingerprint = ?, changed_at = ?, last_seen = ?, seen_blocks = ? "
            "WHERE website_id = ?",
            (fingerprint.digest, changed_at.isoformat() if changed_at else None, stamp, " ".join(sorted(seen)),
             website_id),
        )
        return FingerprintHistory(first_seen=first_seen, changed_at=changed_at, new=False, cosmetic=cosmetic)

    def maintenance(self, website_id: str, announced_end: dt.datetime, now: dt.datetime,
                    *, absolute: bool) -> MaintenanceWindow:
        """The window this maintenance belongs to: started at its first sighting.

        A relative announcement (``Retry-After: 600``) keeps the end given at the start; an absolute
        one (an HTTP date) is the site's current word and replaces it.
        """
        row = self._db.execute("SELECT started_at, expected_end FROM maintenance WHERE website_id = ?",
                               (website_id,)).fetchone()
        if row is None:
            window = MaintenanceWindow(now, announced_end)
        else:
            started = dt.datetime.fromisoformat(row[0])
            window = MaintenanceWindow(started, announced_end if absolute else dt.datetime.fromisoformat(row[1]))
        self._db.execute("INSERT OR REPLACE INTO maintenance VALUES (?, ?, ?)",
                         (website_id, window.started_at.isoformat(), window.expected_end.isoformat()))
        return window

    def maintenance_over(self, website_id: str) -> None:
        self._db.execute("DELETE FROM maintenance WHERE website_id = ?", (website_id,))

    def close(self) -> None:
        self._db.close()
