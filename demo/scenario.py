"""The demo world (demo/scenario.toml): agents, their cameras and websites, and the simulator scenario it implies."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.regencies import get_regency
from shared.topics import check_identifier

DEFAULT_SCENARIO = Path(__file__).with_name("scenario.toml")


class ScenarioError(ValueError):
    """A demo scenario that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class DemoAgent:
    """One regency's edge agent and the slice of the simulated fleet it watches."""

    name: str
    regency: str
    opd: str
    cameras: int
    websites: int
    locations: tuple[str, ...]
    camera_faults: Mapping[int, list[str]]
    website_faults: Mapping[int, list[str]]
    # Where this agent's cameras and websites start in the simulator's one fleet (0-based).
    camera_offset: int = 0
    website_offset: int = 0
    # The central host's agent for the provincial OPDs: its websites are the provincial list's
    # (edge_agent/websites/provincial_opds.toml), each pointed at one of its simulated sites.
    provincial: bool = False

    def camera_indices(self) -> range:
        """The simulator's 1-based camera indices this agent owns."""
        return range(self.camera_offset + 1, self.camera_offset + self.cameras + 1)

    def website_indices(self) -> range:
        """The simulator's 0-based website indices this agent owns."""
        return range(self.website_offset, self.website_offset + self.websites)

    def camera_name(self, number: int) -> str:
        location = self.locations[(number - 1) % len(self.locations)] if self.locations else "Kamera"
        return f"CCTV {location} {number:02d}"


@dataclass(frozen=True, slots=True)
class DemoScenario:
    seed: int
    agents: tuple[DemoAgent, ...]
    agent_settings: Mapping[str, Any] = field(default_factory=dict)
    # central.toml sections layered over the demo's own (faster alert rules, live-update polling).
    central_settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_cameras(self) -> int:
        return sum(agent.cameras for agent in self.agents)

    @property
    def total_websites(self) -> int:
        return sum(agent.websites for agent in self.agents)

    def simulator_scenario(self, website_ca_dir: Path) -> dict[str, Any]:
        """The scc-sim scenario TOML (as a dict): camera names and faults, website faults, the web CA."""
        cameras: dict[str, Any] = {}
        website_faults: dict[str, list[str]] = {}
        for agent in self.agents:
            for number, index in enumerate(agent.camera_indices(), start=1):
                table: dict[str, Any] = {"name": agent.camera_name(number)}
                if number in agent.camera_faults:
                    table["faults"] = list(agent.camera_faults[number])
                cameras[str(index)] = table
            for number, index in enumerate(agent.website_indices(), start=1):
                if number in agent.website_faults:
                    website_faults[str(index)] = list(agent.website_faults[number])
        return {
            "seed": self.seed,
            "cameras": cameras,
            "websites": {"ca_dir": str(website_ca_dir), "faults": website_faults},
        }


def _faults(raw: object, where: str, limit: int) -> dict[int, list[str]]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: must be a table of NUMBER = [faults]")
    faults: dict[int, list[str]] = {}
    for key, value in raw.items():
        if not str(key).isdigit() or not 1 <= int(key) <= limit:
            raise ScenarioError(f"{where}: {key!r} is not a number between 1 and {limit}")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ScenarioError(f"{where}.{key}: must be a list of fault names")
        faults[int(key)] = list(items)
    return faults


def parse_scenario(data: Mapping[str, Any], source: str = "scenario.toml") -> DemoScenario:
    """Validate the parsed TOML and lay the agents' cameras and websites out one after another."""
    raw_agents = data.get("agents")
    if not isinstance(raw_agents, list) or not raw_agents:
        raise ScenarioError(f"{source}: needs at least one [[agents]] table")
    agents: list[DemoAgent] = []
    camera_offset = website_offset = 0
    seen: set[str] = set()
    for position, raw in enumerate(raw_agents):
        where = f"{source}:agents[{position}]"
        try:
            name = check_identifier(str(raw["name"]), "agent name")
            regency = get_regency(str(raw["regency"])).code
            cameras = int(raw.get("cameras", 0))
            websites = int(raw.get("websites", 0))
        except (KeyError, ValueError) as error:
            raise ScenarioError(f"{where}: {error}") from None
        if name in seen:
            raise ScenarioError(f"{where}: agent name {name!r} is used twice")
        seen.add(name)
        agent = DemoAgent(
            name=name,
            regency=regency,
            opd=str(raw.get("opd", "")),
            cameras=cameras,
            websites=websites,
            locations=tuple(str(item) for item in raw.get("locations", [])),
            camera_faults=_faults(raw.get("camera_faults", {}), f"{where}.camera_faults", cameras),
            website_faults=_faults(raw.get("website_faults", {}), f"{where}.website_faults", websites),
            camera_offset=camera_offset,
            website_offset=website_offset,
            provincial=bool(raw.get("provincial", False)),
        )
        if agent.provincial and agent.cameras:
            raise ScenarioError(f"{where}: the provincial agent checks websites only, not cameras")
        agents.append(agent)
        camera_offset += cameras
        website_offset += websites
    settings = data.get("agent_settings", {})
    if not isinstance(settings, Mapping):
        raise ScenarioError(f"{source}: [agent_settings] must be a table")
    central = data.get("central", {})
    if not isinstance(central, Mapping):
        raise ScenarioError(f"{source}: [central] must be a table")
    return DemoScenario(
        seed=int(data.get("seed", 0)),
        agents=tuple(agents),
        agent_settings=dict(settings),
        central_settings=dict(central),
    )


def load_scenario(path: Path = DEFAULT_SCENARIO) -> DemoScenario:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{path}: {error}") from None
    return parse_scenario(data, str(path))
