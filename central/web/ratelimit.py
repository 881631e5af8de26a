"""A small sliding-window counter that slows down password guessing at the login form."""

from __future__ import annotations

import threading
import time
from collections import deque


class FailureLimiter:
    """Counts failures per key inside a window; per process, which with N workers allows N x the limit."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        while stamps and now - stamps[0] > self.window_s:
            stamps.popleft()
        return stamps

    def retry_after(self, *keys: str) -> int:
        """Seconds until any of ``keys`` may try again; 0 when none is blocked."""
        now = time.monotonic()
        with self._lock:
            waits = [
                self.window_s - (now - stamps[0])
                for stamps in (self._recent(key, now) for key in keys)
                if len(stamps) >= self.max_failures
            ]
        return int(max(waits)) + 1 if waits else 0

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # bound memory against a spray of usernames
                self._failures = {k: v for k, v in self._failures.items() if self._recent(k, now)}

    def reset(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
