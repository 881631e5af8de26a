"""One simulated fleet for the website tests; every test restores the faults it sets."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from edge_agent.websites import WebsiteChecker, WebsiteFindings, WebsiteTarget
from simulator.websites import SimulatedWebsite, WebsiteFleet, start_websites
from simulator.websites_content import SignalProfile

T = TypeVar("T")
# 24 sites: every signal profile on both HTTP and HTTPS (see the simulator's assignment rule).
FLEET_SIZE = 24


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture(scope="session")
def fleet() -> Iterator[WebsiteFleet]:
    with start_websites(FLEET_SIZE, {}, "127.0.0.1") as running:
        yield running


class Sites:
    """Picks sites by profile and scheme and clears their faults afterwards."""

    def __init__(self, fleet: WebsiteFleet) -> None:
        self.fleet = fleet
        self.touched: set[str] = set()

    def pick(self, profile: SignalProfile, scheme: str = "http") -> SimulatedWebsite:
        site = next(s for s in self.fleet.sites if s.profile is profile and s.scheme == scheme)
        self.touched.add(site.id)
        return site

    def fault(self, site: SimulatedWebsite, fault: str, **params: Any) -> SimulatedWebsite:
        self.touched.add(site.id)
        self.fleet.set_fault(site.id, fault, **params)
        return site


@pytest.fixture
def sites(fleet: WebsiteFleet) -> Iterator[Sites]:
    picker = Sites(fleet)
    yield picker
    for site_id in picker.touched:
        fleet.clear(site_id)


def target_for(site: SimulatedWebsite, **overrides: Any) -> WebsiteTarget:
    settings: dict[str, Any] = {"id": site.id, "url": site.url, "opd": site.opd, "timeout_s": 3.0}
    settings.update(overrides)
    return WebsiteTarget(**settings)


def check(fleet: WebsiteFleet, state: Path, site: SimulatedWebsite, **overrides: Any) -> WebsiteFindings:
    async def go() -> WebsiteFindings:
        async with WebsiteChecker(state, ca_file=fleet.ca_file) as checker:
            return await checker.check(target_for(site, **overrides))

    return run(go())
