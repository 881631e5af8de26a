"""Helpers for the edge agent tests: an AgentConfig for a provisioned agent on a test broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.config import AgentConfig, parse_config


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
    import tomli_w

    path.write_text(tomli_w.dumps(config_data(name, state_dir, **kwargs)))
    return path
