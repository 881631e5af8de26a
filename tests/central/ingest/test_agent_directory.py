"""The agent directory over registry.json: a broken or unreadable registry is a clear error, once per change."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from central.ingest.agents import AgentDirectory, Refusal
from provisioning.errors import ProvisioningError
from provisioning.registry import load_registry, save_registry
from tests.central import factories as f

AGENT = "agent-plg"


def _bump_mtime(path: Path, step_ns: int) -> None:
    # Two writes within one filesystem tick can share an mtime; the directory watches mtimes.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + step_ns))


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"\xff\xfe not utf-8", "is not UTF-8"), (b"{not json", "is not valid JSON"), (b"[1, 2]", "is malformed")],
)
def test_a_broken_registry_is_a_provisioning_error_naming_the_file(tmp_path: Path, content: bytes,
                                                                   expected: str) -> None:
    (tmp_path / "registry.json").write_bytes(content)
    with pytest.raises(ProvisioningError, match=expected) as caught:
        load_registry(tmp_path)
    assert str(tmp_path / "registry.json") in str(caught.value)


def test_an_unreadable_registry_is_a_provisioning_error_naming_the_file(tmp_path: Path) -> None:
    # A directory where the file should be: unreadable even for root (tests may run as root, where
    # chmod 000 would not stop the read).
    (tmp_path / "registry.json").mkdir()
    with pytest.raises(ProvisioningError, match="cannot be read") as caught:
        load_registry(tmp_path)
    assert str(tmp_path / "registry.json") in str(caught.value)


def test_a_broken_registry_keeps_the_previous_one_and_is_logged_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_registry(tmp_path, f.registry({AGENT: "16.71"}))
    path = tmp_path / "registry.json"
    directory = AgentDirectory(tmp_path)
    assert directory.verdict(AGENT).regency == "16.71"

    path.write_bytes(b"\xff\xfe half-written")
    _bump_mtime(path, 1_000_000)
    with caplog.at_level(logging.ERROR, logger="central.ingest.agents"):
        for _ in range(50):  # one refresh per batch
            directory.refresh()
            assert directory.verdict(AGENT).regency == "16.71"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "keeping the previous agent registry" in errors[0].getMessage()
    assert str(path) in errors[0].getMessage()

    caplog.clear()
    path.write_bytes(b"{still broken")  # another change, another (single) error
    _bump_mtime(path, 2_000_000)
    with caplog.at_level(logging.ERROR, logger="central.ingest.agents"):
        for _ in range(5):
            directory.refresh()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"keeping the previous agent registry: {path} is not valid JSON: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    ]

    save_registry(tmp_path, f.registry({AGENT: "16.06"}))  # fixed: loaded again
    _bump_mtime(path, 3_000_000)
    directory.refresh()
    assert directory.verdict(AGENT).regency == "16.06"


def test_no_registry_at_start_refuses_every_agent_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "registry.json").write_bytes(b"\x00\x01")
    directory = AgentDirectory(tmp_path)
    with caplog.at_level(logging.ERROR, logger="central.ingest.agents"):
        for _ in range(20):
            directory.refresh()
            assert directory.verdict(AGENT).refusal is Refusal.UNKNOWN_AGENT
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot load the agent registry" in errors[0], errors
