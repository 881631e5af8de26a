"""Helpers for the edge agent tests: an AgentConfig for a provisioned agent on a test broker."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from edge_agent.config import AgentConfig, parse_config
from shared import topics
from shared.codec import Decoded, decode


def agent_config(
    name: str,
    state_dir: Path,
    *,
    broker_port: int = 8883,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    **sections: Any,
) -> AgentConfig:
    """A valid config; ``sections`` override or add top-level tables (dicts are merged one level)."""
    data = config_data(name, state_dir, broker_port=broker_port, ca=ca, cert=cert, key=key, **sections)
    return parse_config(data, "test-agent.toml", state_dir)


def config_data(name: str, state_dir: Path, *, broker_port: int = 8883, ca: Path | None = None,
                cert: Path | None = None, key: Path | None = None, **sections: Any) -> dict[str, Any]:
    """agent.toml as a dict (for writing a real file); ``sections`` as for :func:`agent_config`."""
    data: dict[str, Any] = {
        "agent": {"name": name, "regency": "16.71", "state_dir": str(state_dir)},
        "broker": {"host": "127.0.0.1", "port": broker_port, "reconnect_max_s": 2},
        "tls": {"ca_file": str(ca or state_dir / "ca.crt"), "cert_file": str(cert or state_dir / f"{name}.crt"),
                "key_file": str(key or state_dir / f"{name}.key")},
    }
    for section, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **value}
        else:
            data[section] = value
    return data


def write_config(path: Path, name: str, state_dir: Path, **kwargs: Any) -> Path:
    """Write a real agent.toml for the CLI; returns its path."""
    path.write_text(tomli_w.dumps(config_data(name, state_dir, **kwargs)))
    return path


class Central:
    """Central's view of one agent on a real broker: every report decoded, in arrival order.

    Blocking (the paho thread fills the queue): from a coroutine call ``await asyncio.to_thread(...)``.
    Availability messages (birth, will, goodbye) are kept apart: they bypass the outbox.
    """

    def __init__(self, client: Any, agent: str) -> None:
        self.client = client
        self.agent = agent
        self.reports: list[Decoded] = []
        self.availability: list[Decoded] = []

    def _take(self, timeout: float) -> bool:
        try:
            message = self.client.messages.get(timeout=timeout)
        except queue.Empty:
            return False
        decoded = decode(message.topic, bytes(message.payload))
        assert isinstance(decoded, Decoded), decoded
        if decoded.topic.agent != self.agent:
            return True
        if decoded.topic.channel is topics.Channel.AVAILABILITY:
            self.availability.append(decoded)
        else:
            self.reports.append(decoded)
        return True

    def wait_for(self, done: Callable[[Central], bool], timeout: float, what: str) -> None:
        """Read messages until ``done(self)`` holds; fail naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kinds = sorted({d.message.kind for d in self.reports})
                raise AssertionError(f"central: timed out after {timeout} s waiting for {what}; "
                                     f"{len(self.reports)} report(s) so far ({', '.join(kinds)})")
            self._take(min(remaining, 0.5))

    def of_kind(self, kind: str) -> list[Any]:
        return [d.message for d in self.reports if d.message.kind == kind]

    @property
    def msg_ids(self) -> set[str]:
        return {d.message.msg_id for d in self.reports}
