"""Login throttling per (client address, account): growing delays that stop guessing, not the innocent.

A key is the pair, so failures from one address never slow down the same account from another (the
operator with the right password is never refused because of a stranger), and failures for one account
never slow down another account from the same address. After ``free_failures`` failures in a row the
pair waits ``base_delay_s``, doubling with each further failure up to ``max_delay_s``; a success, or
``forget_after_s`` without a failure, clears it. Counts live in the worker process: with N workers a
guesser gets at most N times the attempts, still exponentially slowed.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Record:
    failures: int
    last_failure: float


class LoginThrottle:
    """Growing delays per (address, account); thread-safe, bounded to ``max_keys`` pairs."""

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
        self._records: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(address: str, account: str) -> tuple[str, str]:
        return address, account.strip().lower()

    def delay_after(self, failures: int) -> float:
        """The wait imposed after ``failures`` failures in a row."""
        if failures < self.free_failures:
            return 0.0
        return float(min(self.base_delay_s * 2 ** (failures - self.free_failures), self.max_delay_s))

    def retry_after(self, address: str, account: str, now: float | None = None) -> int:
        """Whole seconds this pair must still wait (0: it may try now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            record = self._records.get(self._key(address, account))
        if record is None:
            return 0
        left = record.last_failure + self.delay_after(record.failures) - now
        return math.ceil(left) if left > 0 else 0

    def fail(self, address: str, account: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = self._key(address, account)
        with self._lock:
            record = self._records.get(key)
            if record is None or now - record.last_failure > self.forget_after_s:
                record = self._records[key] = _Record(0, now)
            record.failures += 1
            record.last_failure = now
            if len(self._records) > self.max_keys:  # a spray of names or addresses must not grow memory
                self._prune(now)

    def succeed(self, address: str, account: str) -> None:
        with self._lock:
            self._records.pop(self._key(address, account), None)

    def _prune(self, now: float) -> None:
        self._records = {
            k: r for k, r in self._records.items() if now - r.last_failure <= self.forget_after_s
        }
        if len(self._records) > self.max_keys:  # still too many: keep the newest half
            newest = sorted(self._records.items(), key=lambda item: item[1].last_failure)[
                -self.max_keys // 2 :
            ]
            self._records = dict(newest)
