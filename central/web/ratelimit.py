"""Login throttling per (client address, account): growing delays that stop guessing, not the innocent.

A key is the pair, so failures from one address never slow down the same account from another (the
operator with the right password is never refused because of a stranger), and failures for one account
never slow down another account from the same address. After ``free_failures`` failures in a row the
pair waits ``base_delay_s``, doubling with each further failure up to ``max_delay_s``; a success, or
``forget_after_s`` without a failure, clears it.

The counts live in the database (``web_login_failures``), like the sessions, so every gunicorn worker
and every instance on the same database shares them: N workers do not give a guesser N times the
attempts. A row is keyed by a SHA-256 of the pair, so a password typed into the user name field is not
kept in clear, and its length is fixed whatever was typed. The caller owns the transaction (a login
POST's session takes the write lock at BEGIN on SQLite, database.py) and commits. Attempts in flight
at the same moment for a pair with no failures yet all get checked (they are within the free ones),
and each is counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from sqlalchemy import String, Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from central.storage.models import Base
from shared.messages import utc_now


class LoginFailure(Base):
    """Failures in a row of one (address, account) pair; deleting the row forgives them."""

    __tablename__ = "web_login_failures"

    key_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int]
    last_failure: Mapped[dt.datetime] = mapped_column(index=True)


_TABLE: Table = LoginFailure.__table__  # type: ignore[assignment]


class LoginThrottle:
    """Growing delays per (address, account), shared through the database; bounded to ``max_keys`` pairs."""

    def __init__(
        self,
        free_failures: int = 3,
        base_delay_s: float = 2.0,
        max_delay_s: float = 300.0,
        forget_after_s: float = 900.0,
        max_keys: int = 10_000,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.forget_after_s = max(forget_after_s, max_delay_s)
        self.max_keys = max_keys

    @staticmethod
    def _key(address: str, account: str) -> str:
        return hashlib.sha256(f"{address}\n{account.strip().lower()}".encode()).hexdigest()

    def delay_after(self, failures: int) -> float:
        """The wait imposed after ``failures`` failures in a row."""
        if failures < self.free_failures:
            return 0.0
        return float(min(self.base_delay_s * 2 ** (failures - self.free_failures), self.max_delay_s))

    def retry_after(
        self, session: Session, address: str, account: str, now: dt.datetime | None = None
    ) -> int:
        """Whole seconds this pair must still wait (0: it may try now).

        The pair's row stays locked to the end of the caller's transaction (SQLite: the whole database,
        taken at BEGIN by a login POST; PostgreSQL: FOR UPDATE), so concurrent attempts of a counted pair
        take turns and each sees the failures of the one before.
        """
        now = utc_now() if now is None else now
        record = session.get(
            LoginFailure, self._key(address, account), populate_existing=True, with_for_update=True
        )
        if record is None or (now - record.last_failure).total_seconds() > self.forget_after_s:
            return 0
        left = (record.last_failure - now).total_seconds() + self.delay_after(record.failures)
        return math.ceil(left) if left > 0 else 0

    def fail(self, session: Session, address: str, account: str, now: dt.datetime | None = None) -> None:
        """Count one failure, atomically even when several workers count the same pair at once."""
        now = utc_now() if now is None else now
        stale = now - dt.timedelta(seconds=self.forget_after_s)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        insert = dialect.insert(_TABLE)
        row = {"key_sha256": self._key(address, account), "failures": 1, "last_failure": now}
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["key_sha256"],
            set_={  # long after the last failure, counting starts over
                "failures": case((_TABLE.c.last_failure < stale, 1), else_=_TABLE.c.failures + 1),
                "last_failure": now,
            },
        )
        session.execute(statement)
        self._bound(session, stale)

    def succeed(self, session: Session, address: str, account: str) -> None:
        session.execute(delete(LoginFailure).where(LoginFailure.key_sha256 == self._key(address, account)))

    def _bound(self, session: Session, stale: dt.datetime) -> None:
        """Forgotten pairs go; a spray of names or addresses beyond ``max_keys`` keeps the newest half."""
        session.execute(delete(LoginFailure).where(LoginFailure.last_failure < stale))
        count = session.execute(select(func.count()).select_from(LoginFailure)).scalar_one()
        if count <= self.max_keys:
            return
        newest = (
            select(LoginFailure.key_sha256)
            .order_by(LoginFailure.last_failure.desc())
            .limit(self.max_keys // 2)
        )
        session.execute(delete(LoginFailure).where(LoginFailure.key_sha256.not_in(newest)))
