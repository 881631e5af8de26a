"""Fixtures for alert tests: receivers, a migrated database with one agent, and a settable clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.central.alerts.receivers import SmtpServer, WebhookServer, start_smtp_server, start_webhook_server


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server, receiver = start_webhook_server()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    yield from start_smtp_server(tmp_path)


class Clock:
    """The injected clock: tests move time, the service reads it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
