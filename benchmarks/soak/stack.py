"""The soak's system: the demo's stack (real broker, central, simulator, agents) sized to the province,
with every agent behind a cuttable link and the ingest run with as many workers as asked."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from benchmarks.soak.linkcut import Link
from demo.accounts import Credentials
from demo.processes import Child, Supervisor
from demo.scenario import DemoScenario, parse_scenario
from demo.stack import BIN, DemoOptions, Stack, _write_private
from provisioning import operations
from provisioning.operations import CENTRAL_NAME
from shared.mqtt import identity_name, ingest_worker_purpose
from shared.regencies import all_regencies


@dataclass(frozen=True, slots=True)
class World:
    """How big the province is in this run; ``interval_s`` is the agents' check interval."""

    regencies: int = 17  # the first N of the province's regencies, one agent each
    cameras_per_agent: int = 60
    websites_per_agent: int = 20
    interval_s: float = 20.0
    database_url: str | None = None  # None: SQLite in the state dir
    ingest_workers: int = 1
    web_workers: int = 2
    central_disk_mb: int = 0  # >0: central's data directory on a tmpfs of this size (the disk_full chaos)


# What one camera or website check costs central's SQLite database, with its share of metrics, thumbnails
# and indexes: 1,603 MB/day for 17 x (10 + 3) checks every 20 s in the soak of docs/performance.md.
BYTES_PER_CHECK = 1700


def central_disk_mb(world: World, duration_s: float) -> int:
    """A disk for central that the whole run (warm-up and drain too) fills to about a third: room to spare,
    and the disk_full chaos fills the rest with its ballast (RAM, on a tmpfs, only while it lasts)."""
    checks_per_s = world.regencies * (world.cameras_per_agent + world.websites_per_agent) / world.interval_s
    return 64 + int(3 * checks_per_s * (duration_s + 1200) * BYTES_PER_CHECK / 2**20)


def agent_name(slug: str) -> str:
    return f"soak-{slug}"[:64]


def scenario(world: World, seed: int) -> DemoScenario:
    """One agent per regency, no standing faults (the chaos schedule brings them), alerts quick to fire."""
    agents = [
        {"name": agent_name(regency.slug), "regency": regency.code, "opd": f"Diskominfo {regency.display_name}",
         "cameras": world.cameras_per_agent, "websites": world.websites_per_agent, "locations": ["Simpang", "Kantor"]}
        for regency in all_regencies()[: world.regencies]
    ]  # fmt: skip
    central: dict[str, Any] = {
        "alerts": {
            "interval_s": 5,
            "rules": {
                "camera": {"offline": {"fire_after_minutes": 1, "resolve_after_minutes": 0.5},
                           "degraded": {"fire_after_minutes": 1, "resolve_after_minutes": 0.5}},
                "agent": {"offline": {"fire_after_minutes": 1, "resolve_after_minutes": 0.5}},
                "website": {"down": {"fire_after_minutes": 1}},
            },
        },
    }  # fmt: skip
    if world.database_url:
        central["database"] = {"url": world.database_url}
    interval = world.interval_s
    return parse_scenario(
        {
            "seed": seed,
            "agents": agents,
            "agent_settings": {
                "schedule": {"interval_s": interval, "decode_every_s": max(300.0, 10 * interval),
                             "thumbnail_every_s": max(300.0, 10 * interval), "metrics_every_s": interval},
                "thresholds": {"frozen_diff": 0.02},
            },
            "central": central,
        },
        "soak",
    )  # fmt: skip


class SoakStack(Stack):
    """The demo's stack with the agents' broker connections relayed through cuttable links."""

    def __init__(self, state_dir: Path, world: World, seed: int, supervisor: Supervisor) -> None:
        options = DemoOptions(state_dir=state_dir, web_port=0, broker_port=0, web_workers=world.web_workers,
                              fresh=True)  # fmt: skip
        super().__init__(options, scenario(world, seed), supervisor)
        self.world = world
        self.links: dict[str, Link] = {}
        self.on_broker_up: Callable[[SoakStack], None] | None = None

    @property
    def tap_identity(self) -> str:
        """The tap's certificate: one more ingest worker's, which no worker of this run uses (a certificate
        is one client id, so the tap cannot borrow the ingest's)."""
        return identity_name(CENTRAL_NAME, ingest_worker_purpose(self.world.ingest_workers))

    def provision(self) -> None:
        super().provision()
        # Before the broker starts: it reads the ACL these certificates add only then.
        operations.ensure_central(self.pki, self.world.ingest_workers + 1)

    def start_broker(self) -> None:
        super().start_broker()
        # Before any agent connects: the tap sees every report from the first on.
        if self.on_broker_up is not None:
            self.on_broker_up(self)

    def setup_central(self) -> Credentials:
        if self.world.central_disk_mb:
            self._mount_central_disk()
        return super().setup_central()

    def _mount_central_disk(self) -> None:
        """Central's data directory (its SQLite database, WAL and key) on a disk of its own that can fill up."""
        self.central_dir.mkdir(parents=True, exist_ok=True)
        if os.path.ismount(self.central_dir):
            return
        size = f"size={self.world.central_disk_mb}m,mode=0755"
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", size, "scc-soak-central", str(self.central_dir)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"cannot mount a tmpfs for central's data ({self.central_dir}; the disk_full chaos "
                               f"needs root): {done.stderr.strip() or done.returncode}")  # fmt: skip

    @property
    def ballast(self) -> Path:
        return self.central_dir / "ballast"

    def fill_central_disk(self) -> int:
        """Fill central's disk to the last byte with a ballast file; returns the bytes it took."""
        if not os.path.ismount(self.central_dir):
            raise RuntimeError(f"{self.central_dir} is not a disk of its own (World.central_disk_mb is 0)")
        with self.ballast.open("ab", buffering=0) as out:
            for size in (1 << 20, 65_536, 4096, 512, 1):
                chunk = b"\0" * size
                with contextlib.suppress(OSError):  # ENOSPC: smaller pieces until not one byte fits
                    while True:
                        out.write(chunk)
        return self.ballast.stat().st_size

    def free_central_disk(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def start_ingest(self) -> None:
        central = [str(BIN / "scc-central"), "--config", str(self.central_config)]
        child = self.supervisor.start("central-ingest", [*central, "ingest", "--workers", str(self.world.ingest_workers)])
        self.supervisor.wait_until(child, lambda: True, "start", timeout=1)

    def write_agent_config(self, agent: Any, etc: Path, fleet: Mapping[str, Any]) -> Path:
        path = super().write_agent_config(agent, etc, fleet)
        link = self.links.get(agent.name) or Link(agent.name, ("127.0.0.1", self.broker_port))
        self.links[agent.name] = link
        config = tomllib.loads(path.read_text(encoding="utf-8"))
        config["broker"]["port"] = link.port
        # Short waits between reconnections: the soak measures the pipeline, not paho's backoff.
        config["broker"]["reconnect_max_s"] = 10
        _write_private(path, tomli_w.dumps(config))
        return path

    def outbox(self, agent: str) -> Path:
        return self.state / "agents" / agent / "state" / "outbox.sqlite"

    # --- what the chaos actions need --------------------------------------------------------------

    def child(self, name: str) -> Child:
        for child in reversed(self.supervisor.children):
            if child.name == name:
                return child
        raise KeyError(name)

    def stop_child(self, name: str, signum: int) -> list[str]:
        """Signal ``name``'s process group and wait for it; returns its argv to start it again."""
        child = self.child(name)
        argv = [str(part) for part in child.process.args]  # type: ignore[union-attr]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signum)
        try:
            child.process.wait(timeout=30)
        except Exception:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait(timeout=10)
        self.supervisor.children.remove(child)
        return argv

    def start_child(self, name: str, argv: list[str]) -> None:
        self.supervisor.start(name, argv)

    def pids(self) -> dict[str, list[int]]:
        """Process ids by role, for the sampler (agents summed: they are one role on 17 boxes)."""
        groups: dict[str, list[int]] = {}
        for child in self.supervisor.children:
            role = "agents" if child.name.startswith("soak-") else child.name
            if child.alive:
                groups.setdefault(role, []).append(child.process.pid)
        return groups


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise TimeoutError(f"no {what} within {timeout:.0f} s")


def release_central_disk(state_dir: Path) -> None:
    """Unmount central's tmpfs (after its processes stopped; lazily if one still holds a file there)."""
    central = state_dir.resolve() / "central"
    if os.path.ismount(central) and subprocess.run(["umount", str(central)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(central)], capture_output=True, check=False)
