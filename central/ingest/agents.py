"""Who may report: the provisioning registry, re-read when it changes, with each refusal logged once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from provisioning.ca import Role
from provisioning.errors import ProvisioningError
from provisioning.layout import Layout
from provisioning.registry import Registry, load_registry

log = logging.getLogger(__name__)


class Refusal(StrEnum):
    """Why a sender is not accepted; doubles as the quarantine category."""

    UNKNOWN_AGENT = "unknown_agent"
    REVOKED_AGENT = "revoked_agent"
    NOT_AN_AGENT = "not_an_agent"
    NO_REGENCY = "no_regency"


@dataclass(frozen=True, slots=True)
class Verdict:
    regency: str | None
    refusal: Refusal | None = None


class AgentDirectory:
    """Maps an agent name to its regency from registry.json, reloading when the file changes."""

    def __init__(self, pki_dir: Path | None, *, registry: Registry | None = None) -> None:
        self._path = Layout(pki_dir).registry if pki_dir is not None else None
        self._registry = registry
        self._mtime_ns: int | None = None
        # The mtime of a registry.json that failed to load: without it every batch re-reads the broken
        # file and logs the same error, thousands of lines a minute until someone fixes it.
        self._failed_mtime_ns: int | None = None
        self._warned: set[tuple[str, Refusal]] = set()

    @classmethod
    def fixed(cls, registry: Registry) -> AgentDirectory:
        """A directory over an in-memory registry (tests, benchmarks)."""
        return cls(None, registry=registry)

    def refresh(self) -> None:
        """Re-read registry.json if it changed (one stat call: the writer calls this once per batch)."""
        self._current()

    def verdict(self, agent: str) -> Verdict:
        registry = self._registry if self._path is not None and self._registry is not None else self._current()
        cert = registry.get(agent) if registry is not None else None
        refusal: Refusal | None
        if cert is None:
            refusal = Refusal.UNKNOWN_AGENT
        elif cert.role is not Role.AGENT:
            refusal = Refusal.NOT_AN_AGENT
        elif cert.revoked:
            refusal = Refusal.REVOKED_AGENT
        elif not cert.regency:
            refusal = Refusal.NO_REGENCY
        else:
            return Verdict(cert.regency)
        self._warn_once(agent, refusal)
        return Verdict(None, refusal)

    def _warn_once(self, agent: str, refusal: Refusal) -> None:
        key = (agent, refusal)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("quarantining messages from %r: %s (logged once per agent)", agent, refusal.value)

    def _current(self) -> Registry | None:
        if self._path is None:
            return self._registry
        try:
            mtime_ns = self._path.stat().st_mtime_ns
        except OSError as error:
            if self._registry is None and self._failed_mtime_ns != -1:
                self._failed_mtime_ns = -1  # no file at all: logged once too, until it appears
                log.error("cannot read the agent registry %s: %s", self._path, error)
            return self._registry
        if mtime_ns != self._mtime_ns and mtime_ns != self._failed_mtime_ns:
            try:
                self._registry = load_registry(self._path.parent)
            except ProvisioningError as error:
                self._failed_mtime_ns = mtime_ns  # logged once; the next change is tried again
                if self._registry is None:
                    log.error("cannot load the agent registry (quarantining every report until it is fixed): %s",
                              error)
                else:
                    log.error("keeping the previous agent registry: %s", error)
                return self._registry
            self._mtime_ns = mtime_ns
            self._failed_mtime_ns = None
            self._warned.clear()  # a re-issued or newly revoked agent deserves a fresh warning
            log.info("loaded agent registry %s (%d certificates)", self._path, len(self._registry.certificates))
        return self._registry
